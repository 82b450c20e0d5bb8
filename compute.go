package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Image lookups: Ubuntu 22.04 from Canonical's own account, and Amazon Linux
// 2023 through AWS's public SSM parameter. %s is the architecture. Canonical
// names its EBS images by volume type, hvm-ssd/ (gp2) and hvm-ssd-gp3/: the
// newest of either.
const (
	canonicalOwner     = "099720109477"
	ubuntuJammyPattern = "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-%s-server-*"
	al2023Parameter    = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-%s"
)

// Root volume sizes in GiB: room for the OS, the Python venvs and the notebooks.
const (
	vpnRootGB     = 10
	voilaRootGB   = 16
	jupyterRootGB = 20
)

// Login users of the images, for the ssh commands in the outputs.
const (
	ubuntuUser = "ubuntu"
	al2023User = "ec2-user"
)

// Graviton families (t4g, m7g, c6gn, ...) run arm64 images; the rest x86_64.
var gravitonTypeRe = regexp.MustCompile(`^[a-z]+[0-9]+[a-z]*g[a-z]*\.`)

// instanceMemoryMiB is the memory of the instance types the lab is likely
// to use (aws.amazon.com/ec2/instance-types); the configuration checks the
// VPN's against what its software needs. Types not listed are not checked.
var instanceMemoryMiB = map[string]int{
	"t3.nano": 512, "t3.micro": 1024, "t3.small": 2048, "t3.medium": 4096, "t3.large": 8192, "t3.xlarge": 16384,
	"t3a.nano": 512, "t3a.micro": 1024, "t3a.small": 2048, "t3a.medium": 4096, "t3a.large": 8192, "t3a.xlarge": 16384,
	"t4g.nano": 512, "t4g.micro": 1024, "t4g.small": 2048, "t4g.medium": 4096, "t4g.large": 8192, "t4g.xlarge": 16384, "t4g.2xlarge": 32768,
	"r7g.large": 16384, "r7g.xlarge": 32768, "r7g.2xlarge": 65536, "r7g.4xlarge": 131072,
	"m5.large": 8192, "m6i.large": 8192, "m7i.large": 8192, "m7g.large": 8192, "c5.large": 4096, "r5.large": 16384,
}

// goArch is the Go architecture of an instance type: what the ACME client
// is built for, and the name Ubuntu's image names use too.
func goArch(instanceType string) string {
	if gravitonTypeRe.MatchString(instanceType) {
		return "arm64"
	}
	return "amd64"
}

func al2023Arch(instanceType string) string {
	if gravitonTypeRe.MatchString(instanceType) {
		return "arm64"
	}
	return "x86_64"
}

type compute struct {
	KeyName pulumi.StringOutput
	VPNIP   *ec2.Eip
	VoilaIP *ec2.Eip
	VPN     *ec2.Instance
	Voila   *ec2.Instance
	Jupyter *ec2.Instance
}

// instanceSpec is what differs between the servers.
type instanceSpec struct {
	Role       string // Name tag suffix
	Type       string
	AMI        string
	Tier       *tier
	Group      *ec2.SecurityGroup // nil: the tier's group
	RootGB     int
	PublicIP   bool               // an address of its own at launch (not an Elastic IP)
	Forwards   bool               // a router: EC2's source/destination check off
	KeyName    pulumi.StringInput // nil: no SSH key at all
	Profile    pulumi.StringInput // nil: no instance profile
	UserData   pulumi.StringOutput
	DependsOn  []pulumi.Resource
	ReplaceOpt []pulumi.ResourceOption
}

// images looks up each Amazon Linux 2023 image once per architecture.
type images struct {
	ctx   *pulumi.Context
	byArc map[string]string
}

func newImages(ctx *pulumi.Context) *images { return &images{ctx: ctx, byArc: map[string]string{}} }

// al2023 is the current Amazon Linux 2023 image for an instance type.
func (img *images) al2023(instanceType string) (string, error) {
	arch := al2023Arch(instanceType)
	if id, ok := img.byArc[arch]; ok {
		return id, nil
	}
	p, err := ssm.LookupParameter(img.ctx, &ssm.LookupParameterArgs{Name: fmt.Sprintf(al2023Parameter, arch)})
	if err != nil {
		return "", fmt.Errorf("looking up the Amazon Linux 2023 image for %s: %w", arch, err)
	}
	img.byArc[arch] = p.Value
	return p.Value, nil
}

// createCompute declares the key pair, the Elastic IPs of the VPN and Voila,
// and the three servers with their userdata.
func createCompute(ctx *pulumi.Context, c *labConfig, n *network, s *storage, secret *vpnSecret, img *images) (*compute, error) {
	out := &compute{}
	if c.KeyName != "" {
		out.KeyName = pulumi.String(c.KeyName).ToStringOutput()
	} else {
		name, alias := c.logical("KeyPair")
		kp, err := ec2.NewKeyPair(ctx, name, &ec2.KeyPairArgs{
			PublicKey: pulumi.String(c.SSHPublicKey),
			Tags:      c.tags("KeyPair"),
		}, alias)
		if err != nil {
			return nil, fmt.Errorf("declaring the key pair: %w", err)
		}
		out.KeyName = kp.KeyName
	}

	ubuntu, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
		Owners:     []string{canonicalOwner},
		MostRecent: pulumi.BoolRef(true),
		Filters: []ec2.GetAmiFilter{
			{Name: "name", Values: []string{fmt.Sprintf(ubuntuJammyPattern, goArch(c.VPNInstanceType))}},
			{Name: "virtualization-type", Values: []string{"hvm"}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("looking up the Ubuntu 22.04 image: %w", err)
	}
	voilaAMI, err := img.al2023(c.VoilaType)
	if err != nil {
		return nil, err
	}
	jupyterAMI, err := img.al2023(c.JupyterType)
	if err != nil {
		return nil, err
	}

	// The public servers' addresses exist before the servers, so userdata can
	// name them, and survive a stop and start, so every URL stays right.
	if out.VPNIP, err = elasticIP(ctx, c, "VPN"); err != nil {
		return nil, err
	}
	if out.VoilaIP, err = elasticIP(ctx, c, "VoilaServer"); err != nil {
		return nil, err
	}
	bucket := s.Bucket.Bucket
	out.VPN, err = createInstance(ctx, c, instanceSpec{
		Role: "VPN", Type: c.VPNInstanceType, AMI: ubuntu.Id, Tier: n.DMZ, RootGB: vpnRootGB,
		KeyName: out.KeyName,
		Profile: secret.Profile,
		// No secret: the password is read from the parameter at first boot.
		UserData: pulumi.All(out.VPNIP.PublicIp, secret.secret().Name, secret.Members.Name).ApplyT(func(v []any) (string, error) {
			return vpnUserData(c, v[0].(string), v[1].(string), v[2].(string))
		}).(pulumi.StringOutput),
		DependsOn: secret.Access,
		// A new VPN server has new keys: client profiles must be downloaded
		// again. Replacing it frees the address for its successor first.
		ReplaceOpt: []pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true)},
	})
	if err != nil {
		return nil, err
	}
	if err := associate(ctx, c, "VPN", out.VPNIP, out.VPN); err != nil {
		return nil, err
	}
	out.Voila, err = createInstance(ctx, c, instanceSpec{
		Role: "VoilaServer", Type: c.VoilaType, AMI: voilaAMI, Tier: n.Production, RootGB: voilaRootGB,
		KeyName: out.KeyName,
		Profile: s.VoilaProfile,
		UserData: pulumi.All(bucket, out.VoilaIP.PublicIp).ApplyT(func(v []any) (string, error) {
			return voilaUserData(c, v[0].(string), v[1].(string), s.ACMEBinary.SHA256)
		}).(pulumi.StringOutput),
		DependsOn: []pulumi.Resource{s.Sample, s.ACMEClient},
	})
	if err != nil {
		return nil, err
	}
	if err := associate(ctx, c, "VoilaServer", out.VoilaIP, out.Voila); err != nil {
		return nil, err
	}
	jupyterData := bucket.ApplyT(func(b string) (string, error) { return jupyterUserData(c, b, "") }).(pulumi.StringOutput)
	if s.JupyterMembers != nil {
		jupyterData = pulumi.All(bucket, s.JupyterMembers.Name).ApplyT(func(v []any) (string, error) {
			return jupyterUserData(c, v[0].(string), v[1].(string))
		}).(pulumi.StringOutput)
	}
	jupyterGB, err := jupyterDisk(ctx, c)
	if err != nil {
		return nil, err
	}
	out.Jupyter, err = createInstance(ctx, c, instanceSpec{
		Role: "Jupyter", Type: c.JupyterType, AMI: jupyterAMI, Tier: n.Research, RootGB: jupyterGB,
		// Only the manual's internet-gateway shortcut needs a public address for
		// egress; the Research group still admits nothing from the internet.
		PublicIP: c.ResearchEgress == egressIGW,
		KeyName:  out.KeyName,
		Profile:  s.JupyterProfile,
		UserData: pulumi.ToSecret(jupyterData).(pulumi.StringOutput),
		// What its pushes need (the endpoint and route, the way out of its
		// group, its role): created before Jupyter, deleted after its last
		// push at shutdown. Egress is not waited for: installs retry.
		DependsOn: append(append([]pulumi.Resource{s.Sample, n.S3Endpoint, n.ResearchAssociation, n.Research.EgressRule}, s.JupyterAccess...), s.HubProxy...),
		// The old server pushes its notebooks at shutdown before the new one
		// restores them: delete before create, never two at once.
		ReplaceOpt: []pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true)},
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// jupyterDisk is the size of the Jupyter server's root volume: what the
// team needs (jupyterDiskGB), and never less than the volume the lab's
// Jupyter server has now. EBS grows a volume in place and never shrinks
// one (the provider's update would fail), so a team that loses members
// keeps its disk, and its notebooks.
func jupyterDisk(ctx *pulumi.Context, c *labConfig) (int, error) {
	gb := c.jupyterDiskGB()
	if !c.team() {
		return gb, nil
	}
	found, err := ec2.GetInstances(ctx, &ec2.GetInstancesArgs{
		Filters: []ec2.GetInstancesFilter{
			{Name: "tag:" + labTag, Values: []string{c.labID()}},
			{Name: "tag:Name", Values: []string{"*-Jupyter"}}, // whatever namePrefix was
		},
		InstanceStateNames: []string{"pending", "running", "stopping", "stopped"},
	})
	if err != nil {
		return 0, fmt.Errorf("looking up the lab's Jupyter server, for its disk: %w", err)
	}
	for _, id := range found.Ids {
		inst, err := ec2.LookupInstance(ctx, &ec2.LookupInstanceArgs{InstanceId: pulumi.StringRef(id)})
		if err != nil {
			return 0, fmt.Errorf("reading the Jupyter server %s, for its disk: %w", id, err)
		}
		for _, d := range inst.RootBlockDevices {
			gb = max(gb, d.VolumeSize)
		}
	}
	return gb, nil
}

// elasticIP declares the Elastic IP of a public server.
func elasticIP(ctx *pulumi.Context, c *labConfig, role string) (*ec2.Eip, error) {
	name, alias := c.logical(role + "-EIP")
	eip, err := ec2.NewEip(ctx, name, &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   c.tags(role + "-EIP"),
	}, alias)
	if err != nil {
		return nil, fmt.Errorf("declaring the %s Elastic IP: %w", role, err)
	}
	return eip, nil
}

func associate(ctx *pulumi.Context, c *labConfig, role string, eip *ec2.Eip, inst *ec2.Instance) error {
	name, alias := c.logical(role + "-EIP-Association")
	_, err := ec2.NewEipAssociation(ctx, name, &ec2.EipAssociationArgs{
		AllocationId: eip.AllocationId,
		InstanceId:   inst.ID(),
	}, alias)
	if err != nil {
		return fmt.Errorf("associating the %s Elastic IP: %w", role, err)
	}
	return nil
}

func createInstance(ctx *pulumi.Context, c *labConfig, spec instanceSpec) (*ec2.Instance, error) {
	group := spec.Group
	if group == nil {
		group = spec.Tier.SecurityGroup
	}
	args := &ec2.InstanceArgs{
		Ami:                      pulumi.String(spec.AMI),
		InstanceType:             pulumi.String(spec.Type),
		SubnetId:                 spec.Tier.Subnet.ID(),
		VpcSecurityGroupIds:      pulumi.StringArray{group.ID()},
		AssociatePublicIpAddress: pulumi.Bool(spec.PublicIP),
		SourceDestCheck:          pulumi.Bool(!spec.Forwards),
		// A changed userdata is a changed server: replace it rather than leave
		// it running with a configuration it never applied.
		UserDataReplaceOnChange: pulumi.Bool(true),
		MetadataOptions: ec2.InstanceMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"), // IMDSv2 only
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		RootBlockDevice: ec2.InstanceRootBlockDeviceArgs{
			Encrypted:           pulumi.Bool(true),
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(spec.RootGB),
			DeleteOnTermination: pulumi.Bool(true),
		},
		Tags:       c.tags(spec.Role),
		VolumeTags: c.tags(spec.Role + "-root"),
	}
	if strings.HasPrefix(spec.Type, "t") {
		// Burstable types default to "unlimited" credits, billed on top of
		// the hourly price; a lab should cost what the plan says.
		args.CreditSpecification = ec2.InstanceCreditSpecificationArgs{CpuCredits: pulumi.String("standard")}
	}
	// Compressed: cloud-init reads gzip as it is, and EC2 takes 16 KiB.
	args.UserDataBase64 = spec.UserData.ApplyT(gzipBase64).(pulumi.StringOutput)
	if spec.KeyName != nil {
		args.KeyName = spec.KeyName
	}
	if spec.Profile != nil {
		args.IamInstanceProfile = spec.Profile
	}
	opts := append([]pulumi.ResourceOption{
		// A newer image alone must not replace a running server (the VPN's
		// keys, the notebooks); images are picked when a server is created.
		// AWS reads associatePublicIpAddress back as "has a public address
		// now" (an Elastic IP: true; stopped, its own address released:
		// false) and the provider replaces the instance when that differs
		// from the declaration: the declaration counts at launch only.
		pulumi.IgnoreChanges([]string{"ami", "associatePublicIpAddress"}),
		pulumi.DependsOn(spec.DependsOn),
	}, spec.ReplaceOpt...)
	name, alias := c.logical(spec.Role)
	inst, err := ec2.NewInstance(ctx, name, args, append(opts, alias)...)
	if err != nil {
		return nil, fmt.Errorf("declaring the %s instance: %w", spec.Role, err)
	}
	return inst, nil
}
