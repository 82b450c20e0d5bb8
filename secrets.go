package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// vpnSecret is how the VPN's secrets and the team reach the VPN: SSM
// Parameter Store SecureStrings (encrypted with the account's aws/ssm key)
// that the VPN reads at boot and again on a timer, never userdata. Their
// names are in the userdata; their values change without replacing the VPN.
type vpnSecret struct {
	// Password is the OpenVPN AS admin password (openvpn-as), Key the
	// WireGuard server's private key (wireguard); the other is nil.
	Password *ssm.Parameter
	Key      *ssm.Parameter
	// Members is the team as the VPN applies it: an empty list for a
	// single-user lab, so that the first member changes no userdata. It is
	// the head of the list (memberparts.go), Team's.
	Members *ssm.Parameter
	Team    *memberList
	// Profile is the VPN's instance profile: reading these parameters and
	// nothing else, or instanceProfile when it is set.
	Profile pulumi.StringInput
	// Access are the IAM resources behind Profile, which the VPN needs at boot.
	Access []pulumi.Resource
}

// Parameter of the secret of this VPN kind: the admin password or the key.
func (v *vpnSecret) secret() *ssm.Parameter {
	if v.Key != nil {
		return v.Key
	}
	return v.Password
}

func createVPNSecret(ctx *pulumi.Context, c *labConfig) (*vpnSecret, error) {
	v := &vpnSecret{}
	var err error
	switch c.VPN {
	case vpnOpenVPNAS:
		v.Password, err = secureParameter(ctx, c, "vpn-admin-password", "VPN-admin-password", "password of the OpenVPN AS admin user openvpn", pulumi.String(c.VPNAdminPassword))
	case vpnWireGuard:
		v.Key, err = secureParameter(ctx, c, "wireguard-private-key", "WireGuard-private-key", "the WireGuard server's private key", pulumi.String(c.WireGuardPrivateKey))
	default:
		return nil, fmt.Errorf("vpn %q: no secret is declared for this VPN", c.VPN)
	}
	if err != nil {
		return nil, err
	}
	members, err := vpnMembers(c)
	if err != nil {
		return nil, err
	}
	parts, err := memberParts(members)
	if err != nil {
		return nil, err
	}
	team, err := declareMemberList(ctx, c, "vpn-members", "VPN-members", "the team as the VPN applies it", len(parts),
		func(i int) pulumi.StringOutput { return pulumi.String(parts[i]).ToStringOutput() })
	if err != nil {
		return nil, err
	}
	v.Members, v.Team = team.Head, team
	if c.InstanceProfile != "" {
		v.Profile = pulumi.String(c.InstanceProfile)
		return v, nil
	}
	policy := pulumi.All(v.secret().Arn, team.arns()).ApplyT(func(arns []any) (string, error) {
		return policyJSON(statement{Sid: "ReadItsSecretsAndTheTeam", Effect: "Allow", Action: []string{"ssm:GetParameter"},
			Resource: append([]string{arns[0].(string)}, arns[1].([]string)...)})
	}).(pulumi.StringOutput)
	v.Profile, v.Access, err = createServerProfile(ctx, c, "VPN", "AdminPassword", policy)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// secureParameter declares an SSM SecureString holding value, a Pulumi
// secret: a standard parameter, free, of at most 4 KiB (maxParameterBytes).
func secureParameter(ctx *pulumi.Context, c *labConfig, logical, tag, description string, value pulumi.StringInput) (*ssm.Parameter, error) {
	p, err := ssm.NewParameter(ctx, logical, &ssm.ParameterArgs{
		Type:        pulumi.String("SecureString"),
		Value:       pulumi.ToSecret(value).(pulumi.StringOutput),
		Description: pulumi.Sprintf("%s: %s", c.NamePrefix, description),
		Tags:        c.tags(tag),
	})
	if err != nil {
		return nil, fmt.Errorf("declaring the parameter %s: %w", logical, err)
	}
	return p, nil
}
