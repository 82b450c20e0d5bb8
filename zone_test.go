package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deployWhere runs the lab in a region whose zones do not offer the listed
// "<zone> <instance type>" pairs.
func deployWhere(t *testing.T, notOffered []string, changes map[string]string) (*mockRun, error) {
	t.Helper()
	mocks := newRecordingMocks("us-east-1")
	mocks.notOffered = map[string]bool{}
	for _, p := range notOffered {
		mocks.notOffered[p] = true
	}
	return runWithMocks("dev", stackConfig(changes), secretKeys, mocks)
}

// TestLabGoesToAZoneThatOffersItsServers: a region's first zone does not
// always offer t4g; the lab goes to the first zone that offers every type it
// runs, and says why.
func TestLabGoesToAZoneThatOffersItsServers(t *testing.T) {
	run, err := deployWhere(t, []string{"us-east-1a t4g.medium"}, nil)
	require.NoError(t, err)
	for _, s := range run.Mocks.ofType(typeSubnet) {
		assert.Equal(t, "us-east-1b", propString(s.Inputs, "availabilityZone"), "subnet %s must be in the first zone offering every server's type", s.Name)
	}
	assert.Equal(t, "the first zone of us-east-1 that offers t4g.medium, t4g.micro, t4g.nano (us-east-1a lacks t4g.medium)", run.Infra.ZoneReason)

	run, err = deployWhere(t, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "us-east-1a", run.Infra.Zone, "where every zone offers the types, the first")
	var asked []string
	for _, c := range run.Mocks.calls {
		if c.Token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings" {
			asked = append(asked, propString(c.Args, "locationType"))
		}
	}
	assert.Equal(t, []string{"availability-zone"}, asked, "offerings are asked per availability zone")
}

// TestNoZoneOffersTheServers: a clear error that names the types and where
// each is offered, before any resource.
func TestNoZoneOffersTheServers(t *testing.T) {
	run, err := deployWhere(t, []string{"us-east-1a t4g.nano", "us-east-1b t4g.nano", "us-east-1c t4g.nano", "us-east-1a t4g.medium"}, nil)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `research-lab:availabilityZone = "": no zone of us-east-1 offers every instance type of the lab (t4g.medium, t4g.micro, t4g.nano)`)
	assert.Contains(t, msg, "t4g.nano is offered in no zone (is the name right?)")
	assert.Contains(t, msg, "t4g.medium is offered in us-east-1b, us-east-1c")
	assert.Contains(t, msg, "nothing was declared")
	assert.Empty(t, run.Mocks.all(), "no zone, no resource")

	run, err = deployWhere(t, []string{"us-east-1c t4g.medium"}, map[string]string{"availabilityZone": "us-east-1c"})
	require.Error(t, err, "a chosen zone that lacks a type is refused")
	assert.True(t, strings.Contains(err.Error(), `research-lab:availabilityZone = "us-east-1c": does not offer t4g.medium; t4g.medium is offered in us-east-1a, us-east-1b`), err.Error())
	assert.Empty(t, run.Mocks.all())
}
