package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// instanceTypes are the instance types the lab runs, each once, sorted.
func (c *labConfig) instanceTypes() []string {
	types := []string{c.VPNInstanceType, c.VoilaType, c.JupyterType}
	if c.ResearchEgress == egressNATInstance {
		types = append(types, natInstanceType)
	}
	sort.Strings(types)
	return slices.Compact(types)
}

// chooseZone picks the lab's availability zone, where its three subnets go:
// availabilityZone when it is set, else the first zone of the region that
// offers every instance type of the lab (a region's first zone does not
// always offer t4g, and RunInstances fails there). It says why, for the
// plan. A zone that lacks a type is a configuration error, before any
// resource.
func chooseZone(ctx *pulumi.Context, c *labConfig) (zone, why string, err error) {
	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		// The region's own zones: no Local or Wavelength Zones.
		Filters: []aws.GetAvailabilityZonesFilter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}},
	})
	if err != nil {
		return "", "", fmt.Errorf("looking up the availability zones of %s: %w", c.Region, err)
	}
	types := c.instanceTypes()
	offers, err := ec2.GetInstanceTypeOfferings(ctx, &ec2.GetInstanceTypeOfferingsArgs{
		LocationType: pulumi.StringRef("availability-zone"),
		Filters:      []ec2.GetInstanceTypeOfferingsFilter{{Name: "instance-type", Values: types}},
	})
	if err != nil {
		return "", "", fmt.Errorf("looking up where %s offers %s: %w", c.Region, strings.Join(types, ", "), err)
	}
	offered := map[string]map[string]bool{} // zone -> type
	for i, typ := range offers.InstanceTypes {
		if i < len(offers.Locations) {
			if offered[offers.Locations[i]] == nil {
				offered[offers.Locations[i]] = map[string]bool{}
			}
			offered[offers.Locations[i]][typ] = true
		}
	}
	missing := func(zone string) []string {
		var m []string
		for _, t := range types {
			if !offered[zone][t] {
				m = append(m, t)
			}
		}
		return m
	}
	names := append([]string(nil), zones.Names...)
	sort.Strings(names)

	if z := c.AvailabilityZone; z != "" {
		if m := missing(z); len(m) > 0 {
			return "", "", zoneError(c, "availabilityZone", z, fmt.Errorf("does not offer %s%s", strings.Join(m, ", "), elsewhere(m, names, offered)))
		}
		return z, "availabilityZone", nil
	}
	var skipped []string
	for _, z := range names {
		m := missing(z)
		if len(m) == 0 {
			why = fmt.Sprintf("the first zone of %s that offers %s", c.Region, strings.Join(types, ", "))
			if len(skipped) > 0 {
				why += " (" + strings.Join(skipped, "; ") + ")"
			}
			return z, why, nil
		}
		skipped = append(skipped, z+" lacks "+strings.Join(m, ", "))
	}
	return "", "", zoneError(c, "availabilityZone", "", fmt.Errorf("no zone of %s offers every instance type of the lab (%s): %s",
		c.Region, strings.Join(types, ", "), elsewhere(types, names, offered)))
}

// elsewhere says where each of types is offered.
func elsewhere(types, zones []string, offered map[string]map[string]bool) string {
	var parts []string
	for _, t := range types {
		var in []string
		for _, z := range zones {
			if offered[z][t] {
				in = append(in, z)
			}
		}
		if len(in) == 0 {
			parts = append(parts, t+" is offered in no zone (is the name right?)")
		} else {
			parts = append(parts, t+" is offered in "+strings.Join(in, ", "))
		}
	}
	return "; " + strings.Join(parts, "; ")
}

// zoneError is a configuration error about the zone, before any resource.
func zoneError(c *labConfig, key, value string, err error) error {
	return &configError{Stack: c.Stack, Errs: []error{fmt.Errorf("%s:%s = %q: %w", projectName, key, value, err)}}
}
