package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// vpnSecret is how the VPN admin password reaches the VPN: an SSM Parameter
// Store SecureString that the VPN reads once at first boot, never userdata.
type vpnSecret struct {
	Parameter *ssm.Parameter
	// Profile is the VPN's instance profile: reading that one parameter and
	// nothing else, or instanceProfile when it is set.
	Profile pulumi.StringInput
	// Access are the IAM resources behind Profile, which the VPN needs at boot.
	Access []pulumi.Resource
}

func createVPNSecret(ctx *pulumi.Context, c *labConfig) (*vpnSecret, error) {
	param, err := ssm.NewParameter(ctx, "vpn-admin-password", &ssm.ParameterArgs{
		Type:        pulumi.String("SecureString"), // encrypted with the account's aws/ssm key
		Value:       pulumi.ToSecret(pulumi.String(c.VPNAdminPassword)).(pulumi.StringOutput),
		Description: pulumi.Sprintf("%s: password of the OpenVPN AS admin user openvpn", c.NamePrefix),
		Tags:        c.tags("VPN-admin-password"),
	})
	if err != nil {
		return nil, fmt.Errorf("declaring the VPN admin password parameter: %w", err)
	}
	v := &vpnSecret{Parameter: param}
	if c.InstanceProfile != "" {
		v.Profile = pulumi.String(c.InstanceProfile)
		return v, nil
	}
	policy := param.Arn.ApplyT(func(arn string) (string, error) {
		return policyJSON(statement{Sid: "ReadTheAdminPassword", Effect: "Allow", Action: []string{"ssm:GetParameter"}, Resource: []string{arn}})
	}).(pulumi.StringOutput)
	v.Profile, v.Access, err = createServerProfile(ctx, c, "VPN", "AdminPassword", policy)
	if err != nil {
		return nil, err
	}
	return v, nil
}
