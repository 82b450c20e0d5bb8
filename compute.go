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
// 2023 through AWS's public SSM parameter. %s is the architecture.
const (
	canonicalOwner     = "099720109477"
	ubuntuJammyPattern = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-%s-server-*"
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

func ubuntuArch(instanceType string) string {
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
	VPN     *ec2.Instance
	Voila   *ec2.Instance
	Jupyter *ec2.Instance
}

// instanceSpec is what differs between the three servers.
type instanceSpec struct {
	Role       string // Name tag suffix
	Type       string
	AMI        string
	Tier       *tier
	RootGB     int
	PublicIP   bool
	Profile    pulumi.StringInput // nil: no instance profile
	UserData   pulumi.StringOutput
	DependsOn  []pulumi.Resource
	ReplaceOpt []pulumi.ResourceOption
}

// createCompute declares the key pair, the VPN's Elastic IP and the three
// instances with their userdata.
func createCompute(ctx *pulumi.Context, c *labConfig, n *network, s *storage) (*compute, error) {
	out := &compute{}
	if c.KeyName != "" {
		out.KeyName = pulumi.String(c.KeyName).ToStringOutput()
	} else {
		kp, err := ec2.NewKeyPair(ctx, c.name("KeyPair"), &ec2.KeyPairArgs{
			PublicKey: pulumi.String(c.SSHPublicKey),
			Tags:      c.tags("KeyPair"),
		})
		if err != nil {
			return nil, fmt.Errorf("declaring the key pair: %w", err)
		}
		out.KeyName = kp.KeyName
	}

	ubuntu, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
		Owners:     []string{canonicalOwner},
		MostRecent: pulumi.BoolRef(true),
		Filters: []ec2.GetAmiFilter{
			{Name: "name", Values: []string{fmt.Sprintf(ubuntuJammyPattern, ubuntuArch(c.VPNInstanceType))}},
			{Name: "virtualization-type", Values: []string{"hvm"}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("looking up the Ubuntu 22.04 image: %w", err)
	}
	al2023 := map[string]string{}
	for _, t := range []string{c.VoilaType, c.JupyterType} {
		arch := al2023Arch(t)
		if al2023[arch] != "" {
			continue
		}
		p, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: fmt.Sprintf(al2023Parameter, arch)})
		if err != nil {
			return nil, fmt.Errorf("looking up the Amazon Linux 2023 image: %w", err)
		}
		al2023[arch] = p.Value
	}

	// The VPN's address exists before the VPN, so its userdata can name it.
	out.VPNIP, err = ec2.NewEip(ctx, c.name("VPN-EIP"), &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   c.tags("VPN-EIP"),
	})
	if err != nil {
		return nil, fmt.Errorf("declaring the VPN's Elastic IP: %w", err)
	}
	bucket := s.Bucket.Bucket
	out.VPN, err = createInstance(ctx, c, out.KeyName, instanceSpec{
		Role: "VPN", Type: c.VPNInstanceType, AMI: ubuntu.Id, Tier: n.DMZ, RootGB: vpnRootGB,
		Profile:  s.VPNProfile,
		UserData: pulumi.ToSecret(out.VPNIP.PublicIp.ApplyT(func(ip string) (string, error) { return vpnUserData(c, ip) })).(pulumi.StringOutput),
		// A new VPN server has new keys: client profiles must be downloaded
		// again. Replacing it frees the address for its successor first.
		ReplaceOpt: []pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true)},
	})
	if err != nil {
		return nil, err
	}
	_, err = ec2.NewEipAssociation(ctx, c.name("VPN-EIP-Association"), &ec2.EipAssociationArgs{
		AllocationId: out.VPNIP.AllocationId,
		InstanceId:   out.VPN.ID(),
	})
	if err != nil {
		return nil, fmt.Errorf("associating the VPN's Elastic IP: %w", err)
	}
	out.Voila, err = createInstance(ctx, c, out.KeyName, instanceSpec{
		Role: "VoilaServer", Type: c.VoilaType, AMI: al2023[al2023Arch(c.VoilaType)], Tier: n.Production, RootGB: voilaRootGB,
		PublicIP:  true,
		Profile:   s.VoilaProfile,
		UserData:  bucket.ApplyT(func(b string) (string, error) { return voilaUserData(c, b) }).(pulumi.StringOutput),
		DependsOn: []pulumi.Resource{s.Sample},
	})
	if err != nil {
		return nil, err
	}
	jupyterDeps := []pulumi.Resource{s.Sample}
	if n.NAT != nil {
		jupyterDeps = append(jupyterDeps, n.NAT)
	}
	out.Jupyter, err = createInstance(ctx, c, out.KeyName, instanceSpec{
		Role: "Jupyter", Type: c.JupyterType, AMI: al2023[al2023Arch(c.JupyterType)], Tier: n.Research, RootGB: jupyterRootGB,
		// Only the manual's internet-gateway shortcut needs a public address for
		// egress; the Research group still admits nothing from the internet.
		PublicIP:  c.ResearchEgress == egressIGW,
		Profile:   s.JupyterProfile,
		UserData:  pulumi.ToSecret(bucket.ApplyT(func(b string) (string, error) { return jupyterUserData(c, b) })).(pulumi.StringOutput),
		DependsOn: jupyterDeps,
		// The old server pushes its notebooks at shutdown before the new one
		// restores them: delete before create, never two at once.
		ReplaceOpt: []pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true)},
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func createInstance(ctx *pulumi.Context, c *labConfig, keyName pulumi.StringOutput, spec instanceSpec) (*ec2.Instance, error) {
	args := &ec2.InstanceArgs{
		Ami:                      pulumi.String(spec.AMI),
		InstanceType:             pulumi.String(spec.Type),
		SubnetId:                 spec.Tier.Subnet.ID(),
		VpcSecurityGroupIds:      pulumi.StringArray{spec.Tier.SecurityGroup.ID()},
		AssociatePublicIpAddress: pulumi.Bool(spec.PublicIP),
		KeyName:                  keyName,
		UserData:                 spec.UserData,
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
	if spec.Profile != nil {
		args.IamInstanceProfile = spec.Profile
	}
	opts := append([]pulumi.ResourceOption{
		// A newer image alone must not replace a running server (the VPN's
		// keys, the notebooks); images are picked when a server is created.
		pulumi.IgnoreChanges([]string{"ami"}),
		pulumi.DependsOn(spec.DependsOn),
	}, spec.ReplaceOpt...)
	inst, err := ec2.NewInstance(ctx, c.name(spec.Role), args, opts...)
	if err != nil {
		return nil, fmt.Errorf("declaring the %s instance: %w", spec.Role, err)
	}
	return inst, nil
}
