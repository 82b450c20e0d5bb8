// Package awsmodel is what the project knows of how the AWS provider
// (pulumi-aws v6, a bridge of hashicorp/terraform-provider-aws v5) treats a
// change: which inputs replace a resource. The stand-in provider of the
// engine tests (internal/awsstandin) diffs by it, and the unit tests check
// that every type the lab declares has a row. It imports no cloud SDK.
package awsmodel

// ForceNew is an input whose change makes the provider replace the resource.
type ForceNew struct {
	Path string // property path of the Pulumi input, e.g. rootBlockDevice.encrypted
	// Computed (Optional+Computed in the provider's schema, autonamed names
	// included): left undeclared, the provider keeps what it has, no diff.
	Computed bool
	// When names a boolean input that must be true for the change to force
	// a replacement (userData with userDataReplaceOnChange).
	When string
}

// Schema is what the AWS provider replaces a resource type for.
type Schema struct {
	// Source is the file of hashicorp/terraform-provider-aws (v5, which
	// pulumi-aws v6 bridges) whose schema marks these properties ForceNew
	// (SDKv2) or RequiresReplace (plugin framework).
	Source   string
	ForceNew []ForceNew
	// SourceKind lists inputs of which exactly one is set: changing which
	// one is set replaces the resource (the rules' ModifyPlan).
	SourceKind []string
}

// ReplaceOnChange is the forcing-replacement table of every resource type the
// lab declares. A type the lab declares that is missing here fails the unit tests.
var ReplaceOnChange = map[string]Schema{
	"aws:ec2/instance:Instance": {Source: "internal/service/ec2/ec2_instance.go", ForceNew: []ForceNew{
		{Path: "ami", Computed: true},
		// Read back as "the primary network interface has a public address":
		// d.Set("associate_public_ip_address", primaryNetworkInterface.Association != nil)
		// (hashicorp/terraform-provider-aws issues #37318 and #33775).
		{Path: "associatePublicIpAddress", Computed: true},
		{Path: "availabilityZone", Computed: true},
		{Path: "subnetId", Computed: true},
		{Path: "keyName", Computed: true},
		{Path: "privateIp", Computed: true},
		{Path: "securityGroups", Computed: true},
		{Path: "rootBlockDevice.encrypted", Computed: true},
		{Path: "rootBlockDevice.kmsKeyId", Computed: true},
		// CustomizeDiff: customdiff.ForceNewIf("user_data", ...) and ("user_data_base64", ...)
		// with "user_data_replace_on_change". rootBlockDevice's volumeType and
		// volumeSize are modified in place (ModifyVolume).
		{Path: "userData", Computed: true, When: "userDataReplaceOnChange"},
		{Path: "userDataBase64", Computed: true, When: "userDataReplaceOnChange"}, // the same rule
	}},
	"aws:ec2/eip:Eip": {Source: "internal/service/ec2/ec2_eip.go", ForceNew: []ForceNew{
		{Path: "address"}, {Path: "domain", Computed: true}, {Path: "networkBorderGroup", Computed: true}, {Path: "publicIpv4Pool", Computed: true},
	}},
	// No Update function: every argument forces a new association.
	"aws:ec2/eipAssociation:EipAssociation": {Source: "internal/service/ec2/ec2_eip_association.go", ForceNew: []ForceNew{
		{Path: "allocationId", Computed: true}, {Path: "instanceId", Computed: true}, {Path: "networkInterfaceId", Computed: true},
		{Path: "privateIpAddress", Computed: true}, {Path: "publicIp", Computed: true}, {Path: "allowReassociation"},
	}},
	"aws:ec2/vpc:Vpc":                                     {Source: "internal/service/ec2/vpc_.go", ForceNew: []ForceNew{{Path: "cidrBlock", Computed: true}}},
	"aws:ec2/subnet:Subnet":                               {Source: "internal/service/ec2/vpc_subnet.go", ForceNew: []ForceNew{{Path: "vpcId"}, {Path: "cidrBlock", Computed: true}, {Path: "availabilityZone", Computed: true}}},
	"aws:ec2/internetGateway:InternetGateway":             {Source: "internal/service/ec2/vpc_internet_gateway.go"}, // vpcId: detach and attach
	"aws:ec2/routeTable:RouteTable":                       {Source: "internal/service/ec2/vpc_route_table.go", ForceNew: []ForceNew{{Path: "vpcId"}}},
	"aws:ec2/routeTableAssociation:RouteTableAssociation": {Source: "internal/service/ec2/vpc_route_table_association.go", ForceNew: []ForceNew{{Path: "subnetId"}, {Path: "gatewayId"}}},
	"aws:ec2/route:Route":                                 {Source: "internal/service/ec2/vpc_route.go", ForceNew: []ForceNew{{Path: "routeTableId"}, {Path: "destinationCidrBlock"}}},
	"aws:ec2/natGateway:NatGateway":                       {Source: "internal/service/ec2/vpc_nat_gateway.go", ForceNew: []ForceNew{{Path: "subnetId"}, {Path: "allocationId"}, {Path: "connectivityType"}}},
	"aws:ec2/vpcEndpoint:VpcEndpoint":                     {Source: "internal/service/ec2/vpc_endpoint.go", ForceNew: []ForceNew{{Path: "vpcId"}, {Path: "serviceName"}, {Path: "vpcEndpointType"}}},
	"aws:ec2/securityGroup:SecurityGroup": {Source: "internal/service/ec2/vpc_security_group.go", ForceNew: []ForceNew{
		{Path: "name", Computed: true}, {Path: "description"}, {Path: "vpcId", Computed: true},
	}},
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {Source: "internal/service/ec2/vpc_security_group_ingress_rule.go", ForceNew: []ForceNew{{Path: "securityGroupId"}},
		SourceKind: []string{"cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"}},
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {Source: "internal/service/ec2/vpc_security_group_ingress_rule.go (shared with the egress rule)", ForceNew: []ForceNew{{Path: "securityGroupId"}},
		SourceKind: []string{"cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"}},
	"aws:ec2/keyPair:KeyPair":                      {Source: "internal/service/ec2/ec2_key_pair.go", ForceNew: []ForceNew{{Path: "keyName", Computed: true}, {Path: "publicKey"}}},
	"aws:s3/bucketV2:BucketV2":                     {Source: "internal/service/s3/bucket.go", ForceNew: []ForceNew{{Path: "bucket", Computed: true}, {Path: "bucketPrefix"}}},
	"aws:s3/bucketObjectv2:BucketObjectv2":         {Source: "internal/service/s3/object.go", ForceNew: []ForceNew{{Path: "bucket"}, {Path: "key"}}},
	"aws:s3/bucketVersioningV2:BucketVersioningV2": {Source: "internal/service/s3/bucket_versioning.go", ForceNew: []ForceNew{{Path: "bucket"}, {Path: "expectedBucketOwner"}}},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": {Source: "internal/service/s3/bucket_server_side_encryption_configuration.go",
		ForceNew: []ForceNew{{Path: "bucket"}, {Path: "expectedBucketOwner"}}},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {Source: "internal/service/s3/bucket_public_access_block.go", ForceNew: []ForceNew{{Path: "bucket"}}},
	"aws:s3/bucketPolicy:BucketPolicy":                       {Source: "internal/service/s3/bucket_policy.go", ForceNew: []ForceNew{{Path: "bucket"}}},
	"aws:iam/role:Role":                                      {Source: "internal/service/iam/role.go", ForceNew: []ForceNew{{Path: "name", Computed: true}, {Path: "namePrefix", Computed: true}, {Path: "path"}}},
	"aws:iam/rolePolicy:RolePolicy":                          {Source: "internal/service/iam/role_policy.go", ForceNew: []ForceNew{{Path: "name", Computed: true}, {Path: "role"}}},
	"aws:iam/instanceProfile:InstanceProfile":                {Source: "internal/service/iam/instance_profile.go", ForceNew: []ForceNew{{Path: "name", Computed: true}, {Path: "path"}}},
	"aws:ssm/parameter:Parameter":                            {Source: "internal/service/ssm/parameter.go", ForceNew: []ForceNew{{Path: "name", Computed: true}, {Path: "dataType", Computed: true}}},
	"aws:budgets/budget:Budget":                              {Source: "internal/service/budgets/budget.go", ForceNew: []ForceNew{{Path: "name", Computed: true}, {Path: "accountId", Computed: true}}},
	"aws:ec2transitgateway/instanceState:InstanceState":      {Source: "internal/service/ec2/ec2_instance_state.go", ForceNew: []ForceNew{{Path: "instanceId"}}},
}
