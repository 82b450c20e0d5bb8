package main

// The refresh model: what the second `pulumi up` does to a lab. The project
// refreshes before every update (Pulumi.yaml), so the engine diffs what the
// program declares against the state as AWS reads it back, and replaces a
// resource when a property its provider marks ForceNew differs. Mocks record
// what we declare; this file rewrites a first run's record the way AWS reads
// it back in each situation a lab passes through, runs the program again
// against it, and lists what would be replaced.

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forceNew is an input whose change makes the provider replace the resource.
type forceNew struct {
	Path string // property path of the Pulumi input, e.g. rootBlockDevice.encrypted
	// Computed (Optional+Computed in the provider's schema, autonamed names
	// included): left undeclared, the provider keeps what it has, no diff.
	Computed bool
	// When names a boolean input that must be true for the change to force
	// a replacement (userData with userDataReplaceOnChange).
	When string
}

// providerSchema is what the AWS provider replaces a resource type for.
type providerSchema struct {
	// Source is the file of hashicorp/terraform-provider-aws (v5, which
	// pulumi-aws v6 bridges) whose schema marks these properties ForceNew
	// (SDKv2) or RequiresReplace (plugin framework).
	Source   string
	ForceNew []forceNew
	// SourceKind lists inputs of which exactly one is set: changing which
	// one is set replaces the resource (the rules' ModifyPlan).
	SourceKind []string
}

// replaceOnChange is the forcing-replacement table of every resource type the
// lab declares. A type the lab declares that is missing here fails the test.
var replaceOnChange = map[string]providerSchema{
	typeInstance: {Source: "internal/service/ec2/ec2_instance.go", ForceNew: []forceNew{
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
	typeEIP: {Source: "internal/service/ec2/ec2_eip.go", ForceNew: []forceNew{
		{Path: "address"}, {Path: "domain", Computed: true}, {Path: "networkBorderGroup", Computed: true}, {Path: "publicIpv4Pool", Computed: true},
	}},
	// No Update function: every argument forces a new association.
	typeEIPAssoc: {Source: "internal/service/ec2/ec2_eip_association.go", ForceNew: []forceNew{
		{Path: "allocationId", Computed: true}, {Path: "instanceId", Computed: true}, {Path: "networkInterfaceId", Computed: true},
		{Path: "privateIpAddress", Computed: true}, {Path: "publicIp", Computed: true}, {Path: "allowReassociation"},
	}},
	typeVPC:    {Source: "internal/service/ec2/vpc_.go", ForceNew: []forceNew{{Path: "cidrBlock", Computed: true}}},
	typeSubnet: {Source: "internal/service/ec2/vpc_subnet.go", ForceNew: []forceNew{{Path: "vpcId"}, {Path: "cidrBlock", Computed: true}, {Path: "availabilityZone", Computed: true}}},
	"aws:ec2/internetGateway:InternetGateway": {Source: "internal/service/ec2/vpc_internet_gateway.go"}, // vpcId: detach and attach
	typeRouteTable: {Source: "internal/service/ec2/vpc_route_table.go", ForceNew: []forceNew{{Path: "vpcId"}}},
	typeRTA:        {Source: "internal/service/ec2/vpc_route_table_association.go", ForceNew: []forceNew{{Path: "subnetId"}, {Path: "gatewayId"}}},
	typeRoute:      {Source: "internal/service/ec2/vpc_route.go", ForceNew: []forceNew{{Path: "routeTableId"}, {Path: "destinationCidrBlock"}}},
	typeNAT:        {Source: "internal/service/ec2/vpc_nat_gateway.go", ForceNew: []forceNew{{Path: "subnetId"}, {Path: "allocationId"}, {Path: "connectivityType"}}},
	typeEndpoint:   {Source: "internal/service/ec2/vpc_endpoint.go", ForceNew: []forceNew{{Path: "vpcId"}, {Path: "serviceName"}, {Path: "vpcEndpointType"}}},
	typeSG: {Source: "internal/service/ec2/vpc_security_group.go", ForceNew: []forceNew{
		{Path: "name", Computed: true}, {Path: "description"}, {Path: "vpcId", Computed: true},
	}},
	typeIngress: {Source: "internal/service/ec2/vpc_security_group_ingress_rule.go", ForceNew: []forceNew{{Path: "securityGroupId"}},
		SourceKind: []string{"cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"}},
	typeEgress: {Source: "internal/service/ec2/vpc_security_group_ingress_rule.go (shared with the egress rule)", ForceNew: []forceNew{{Path: "securityGroupId"}},
		SourceKind: []string{"cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"}},
	typeKeyPair: {Source: "internal/service/ec2/ec2_key_pair.go", ForceNew: []forceNew{{Path: "keyName", Computed: true}, {Path: "publicKey"}}},
	typeBucket:  {Source: "internal/service/s3/bucket.go", ForceNew: []forceNew{{Path: "bucket", Computed: true}, {Path: "bucketPrefix"}}},
	typeObject:  {Source: "internal/service/s3/object.go", ForceNew: []forceNew{{Path: "bucket"}, {Path: "key"}}},
	"aws:s3/bucketVersioningV2:BucketVersioningV2": {Source: "internal/service/s3/bucket_versioning.go", ForceNew: []forceNew{{Path: "bucket"}, {Path: "expectedBucketOwner"}}},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": {Source: "internal/service/s3/bucket_server_side_encryption_configuration.go",
		ForceNew: []forceNew{{Path: "bucket"}, {Path: "expectedBucketOwner"}}},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {Source: "internal/service/s3/bucket_public_access_block.go", ForceNew: []forceNew{{Path: "bucket"}}},
	"aws:s3/bucketPolicy:BucketPolicy":                       {Source: "internal/service/s3/bucket_policy.go", ForceNew: []forceNew{{Path: "bucket"}}},
	"aws:iam/role:Role":                                      {Source: "internal/service/iam/role.go", ForceNew: []forceNew{{Path: "name", Computed: true}, {Path: "namePrefix", Computed: true}, {Path: "path"}}},
	"aws:iam/rolePolicy:RolePolicy":                          {Source: "internal/service/iam/role_policy.go", ForceNew: []forceNew{{Path: "name", Computed: true}, {Path: "role"}}},
	"aws:iam/instanceProfile:InstanceProfile":                {Source: "internal/service/iam/instance_profile.go", ForceNew: []forceNew{{Path: "name", Computed: true}, {Path: "path"}}},
	"aws:ssm/parameter:Parameter":                            {Source: "internal/service/ssm/parameter.go", ForceNew: []forceNew{{Path: "name", Computed: true}, {Path: "dataType", Computed: true}}},
	typeBudget:                                               {Source: "internal/service/budgets/budget.go", ForceNew: []forceNew{{Path: "name", Computed: true}, {Path: "accountId", Computed: true}}},
	typeState:                                                {Source: "internal/service/ec2/ec2_instance_state.go", ForceNew: []forceNew{{Path: "instanceId"}}},
}

// stateKey identifies a resource in the state: its type and logical name.
func stateKey(typ, name string) string { return typ + "::" + name }

// priorState is the state an earlier `pulumi up` left, as AWS reads it back.
type priorState map[string]recordedResource

// recorded is the state a run left, before any refresh.
func recorded(run *mockRun) priorState {
	s := priorState{}
	for _, r := range run.Mocks.all() {
		r.Inputs, r.State = r.Inputs.Copy(), r.State.Copy()
		s[stateKey(r.Type, r.Name)] = r
	}
	return s
}

// refreshed is the state as a refresh reads it back with every instance
// running or every instance stopped. The provider rewrites an input that
// the state holds to what it read (pulumi-terraform-bridge
// pkg/tfbridge/provider.go Read, ExtractInputsFromOutputs with isRefresh),
// so the inputs change with the outputs.
func (s priorState) refreshed(running bool) priorState {
	eip := map[string]bool{} // instance IDs with an Elastic IP
	for _, r := range s {
		if r.Type == typeEIPAssoc {
			eip[propString(r.Inputs, "instanceId")] = true
		}
	}
	out := priorState{}
	for k, r := range s {
		r.Inputs, r.State = r.Inputs.Copy(), r.State.Copy()
		read := func(key string, v resource.PropertyValue) {
			r.State[resource.PropertyKey(key)] = v
			if _, declared := r.Inputs[resource.PropertyKey(key)]; declared {
				r.Inputs[resource.PropertyKey(key)] = v
			}
		}
		switch r.Type {
		case typeInstance:
			// An Elastic IP stays associated while stopped; an address of the
			// instance's own is released at a stop and a new one comes at start.
			launchedPublic := propBool(s[k].Inputs, "associatePublicIpAddress")
			read("associatePublicIpAddress", resource.NewBoolProperty(eip[r.ID] || (running && launchedPublic)))
		case typeState:
			read("state", resource.NewStringProperty(map[bool]string{true: labRunning, false: labStopped}[running]))
		}
		out[k] = r
	}
	return out
}

// secondUp is the second `pulumi up` against a prior state: it runs the
// program with the recording mock resolving each resource to its prior (by
// name, then by alias, as the engine does) and returns the run and, by new
// state key, the prior state key each resource resolved to.
func secondUp(t *testing.T, prior priorState, changes map[string]string) (*mockRun, map[string]string) {
	t.Helper()
	return secondUpWith(t, prior, stackConfig(changes), secretKeys)
}

// secondUpWith is secondUp with a whole configuration and its secret keys.
func secondUpWith(t *testing.T, prior priorState, config map[string]string, secrets []string) (*mockRun, map[string]string) {
	t.Helper()
	resolved := map[string]string{}
	mocks := newRecordingMocks("us-east-1")
	mocks.prior = resolvingPrior(prior, resolved)
	run, err := runWithMocks("dev", config, secrets, mocks)
	require.NoError(t, err, "the second run must succeed")
	return run, resolved
}

// resolvingPrior finds a registered resource in the prior state by name, then
// by alias, as the engine does, and notes what it resolved to.
func resolvingPrior(prior priorState, resolved map[string]string) func(args pulumi.MockResourceArgs) (string, resource.PropertyMap, bool) {
	return func(args pulumi.MockResourceArgs) (string, resource.PropertyMap, bool) {
		candidates := []string{stateKey(args.TypeToken, args.Name)}
		for _, a := range args.RegisterRPC.GetAliases() {
			if spec := a.GetSpec(); spec != nil && spec.GetName() != "" {
				typ := args.TypeToken
				if spec.GetType() != "" {
					typ = spec.GetType()
				}
				candidates = append(candidates, stateKey(typ, spec.GetName()))
			}
		}
		for _, k := range candidates {
			if p, ok := prior[k]; ok {
				resolved[stateKey(args.TypeToken, args.Name)] = k
				state := p.State.Copy()
				for key, v := range args.Inputs {
					state[key] = v
				}
				return p.ID, state, true
			}
		}
		return "", nil, false
	}
}

// planned is what the engine would do on the second `pulumi up`.
type planned struct {
	Replaced []string // "<name>: <path> <old> -> <new>"
	Created  []string
	Deleted  []string
}

// diffAgainst lists what the second run would replace, create and delete.
func diffAgainst(t *testing.T, prior priorState, run *mockRun, resolved map[string]string) planned {
	t.Helper()
	var p planned
	used := map[string]bool{}
	for _, r := range run.Mocks.all() {
		schema, known := replaceOnChange[r.Type]
		require.True(t, known, "no replacement rules for %s: add the type to replaceOnChange with its provider source", r.Type)
		pk, ok := resolved[stateKey(r.Type, r.Name)]
		if !ok {
			p.Created = append(p.Created, r.Name)
			continue
		}
		used[pk] = true
		old := prior[pk]
		for _, f := range schema.ForceNew {
			if f.When != "" && !propBool(r.Inputs, f.When) {
				continue
			}
			newV, declared := valueAt(r.Inputs, f.Path)
			if ignored(r, f.Path) {
				// processIgnoreChanges puts the stored (refreshed) input back.
				newV, declared = valueAt(old.Inputs, f.Path)
			}
			oldV, had := valueAt(old.State, f.Path)
			if f.Path == "userData" || f.Path == "userDataBase64" {
				oldV, had = valueAt(old.Inputs, f.Path) // the state holds its hash; the stored input the text
			}
			switch {
			case !declared && (f.Computed || !had):
				continue // left to the provider, which keeps what it has
			case declared && had && plain(newV).DeepEquals(plain(oldV)):
				continue
			}
			p.Replaced = append(p.Replaced, fmt.Sprintf("%s: %s %s -> %s", r.Name, f.Path, short(oldV, had), short(newV, declared)))
		}
		if len(schema.SourceKind) > 0 && setOf(r.Inputs, schema.SourceKind) != setOf(old.Inputs, schema.SourceKind) {
			p.Replaced = append(p.Replaced, fmt.Sprintf("%s: source %s -> %s", r.Name, setOf(old.Inputs, schema.SourceKind), setOf(r.Inputs, schema.SourceKind)))
		}
	}
	for k, r := range prior {
		if !used[k] {
			p.Deleted = append(p.Deleted, r.Name)
		}
	}
	sort.Strings(p.Deleted)
	return p
}

// ignored says whether ignoreChanges covers path or a parent of it.
func ignored(r recordedResource, path string) bool {
	for _, ic := range r.Options.GetIgnoreChanges() {
		if path == ic || strings.HasPrefix(path, ic+".") {
			return true
		}
	}
	return false
}

// valueAt reads a dotted property path, through secrets.
func valueAt(m resource.PropertyMap, path string) (resource.PropertyValue, bool) {
	keys := strings.Split(path, ".")
	for i, k := range keys {
		v, ok := m[resource.PropertyKey(k)]
		if !ok {
			return resource.PropertyValue{}, false
		}
		v = plain(v)
		if i == len(keys)-1 {
			return v, !v.IsNull()
		}
		if !v.IsObject() {
			return resource.PropertyValue{}, false
		}
		m = v.ObjectValue()
	}
	return resource.PropertyValue{}, false
}

func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func short(v resource.PropertyValue, present bool) string {
	if !present {
		return "(unset)"
	}
	s := fmt.Sprint(v.V)
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// setOf names which of keys an input map sets.
func setOf(m resource.PropertyMap, keys []string) string {
	var set []string
	for _, k := range keys {
		if _, ok := valueAt(m, k); ok {
			set = append(set, k)
		}
	}
	return strings.Join(set, "+")
}

// TestSecondUpReplacesNothing: in every state a lab passes through, the next
// `pulumi up` with the same configuration replaces nothing. Replacing the VPN
// kills every client profile; replacing Voila asks Let's Encrypt for its
// certificate again; replacing Jupyter or the NAT interrupts the researchers.
func TestSecondUpReplacesNothing(t *testing.T) {
	situations := []struct {
		name            string
		first, second   string // labState of the first and the second run
		runningAtSecond bool   // what the refresh reads back before the second run
	}{
		{"running, Elastic IPs associated", labRunning, labRunning, true},
		{"stopped by labState", labStopped, labStopped, false},
		{"started again by labState", labStopped, labRunning, false},
		{"stopped outside Pulumi (session end, idle stop)", labRunning, labRunning, false},
		{"started again outside Pulumi", labStopped, labStopped, true},
	}
	// A single researcher on OpenVPN AS, and a team on each VPN.
	labs := map[string]func(t *testing.T, changes map[string]string) (map[string]string, []string){
		"single": func(t *testing.T, changes map[string]string) (map[string]string, []string) {
			return stackConfig(changes), secretKeys
		},
		"team on openvpn-as": func(t *testing.T, changes map[string]string) (map[string]string, []string) {
			return teamConfig(t, "openvpn-as", []string{"alice", "bob"}, changes)
		},
		"team on wireguard": func(t *testing.T, changes map[string]string) (map[string]string, []string) {
			return teamConfig(t, "wireguard", []string{"alice", "bob"}, changes)
		},
	}
	for lab, configOf := range labs {
		modes := egressModes
		if lab != "single" {
			// What differs with a team is the VPN's and Jupyter's: two modes
			// (an instance's own public address, or none) cover it.
			modes = []string{egressNATInstance, egressIGW}
		}
		for _, mode := range modes {
			for _, s := range situations {
				t.Run(lab+"/"+mode+"/"+s.name, func(t *testing.T) {
					config, secrets := configOf(t, map[string]string{"researchEgress": mode, "labState": s.first})
					first, err := runUnderMocks("dev", config, secrets)
					require.NoError(t, err)
					prior := recorded(first).refreshed(s.runningAtSecond)
					config, secrets = configOf(t, map[string]string{"researchEgress": mode, "labState": s.second})
					second, resolved := secondUpWith(t, prior, config, secrets)
					p := diffAgainst(t, prior, second, resolved)
					assert.Empty(t, p.Replaced, "the second `pulumi up` (%s) would replace resources", s.name)
					assert.Empty(t, p.Created, "the second `pulumi up` (%s) would create resources", s.name)
					assert.Empty(t, p.Deleted, "the second `pulumi up` (%s) would delete resources", s.name)
				})
			}
		}
	}
}

// TestStoppedLabStartsAgainWithoutReplacement: after a stop outside Pulumi,
// the next `pulumi up` starts every instance again (an update of its power
// state), and that is all it changes.
func TestStoppedLabStartsAgainWithoutReplacement(t *testing.T) {
	prior := recorded(deploy(t, nil)).refreshed(false)
	second, _ := secondUp(t, prior, nil)
	for _, s := range second.Mocks.ofType(typeState) {
		assert.Equal(t, labStopped, propString(prior[stateKey(s.Type, s.Name)].State, "state"), "the refresh read %s as stopped", s.Name)
		assert.Equal(t, labRunning, propString(s.Inputs, "state"), "%s: `pulumi up` must start the instance again", s.Name)
	}
}

// TestNewNamePrefixChangesOnlyNames: namePrefix names things for people (Name
// tags); it is not state identity, so a new one replaces nothing.
func TestNewNamePrefixChangesOnlyNames(t *testing.T) {
	for _, mode := range egressModes {
		prior := recorded(deploy(t, map[string]string{"researchEgress": mode})).refreshed(true)
		second, resolved := secondUp(t, prior, map[string]string{"researchEgress": mode, "namePrefix": "Bio7"})
		p := diffAgainst(t, prior, second, resolved)
		assert.Empty(t, p.Replaced, "%s mode: a new namePrefix replaces resources", mode)
		assert.Empty(t, p.Created, "%s mode: a new namePrefix creates resources", mode)
		assert.Empty(t, p.Deleted, "%s mode: a new namePrefix deletes resources", mode)
		vpc := second.Mocks.ofType(typeVPC)[0]
		assert.Equal(t, "Bio7-VPC", propString(object(vpc.Inputs, "tags"), "Name"), "the new prefix must reach the Name tags")
	}
}

// releasedNames are the logical names of the fixture: what existing stacks
// hold, with the default prefix.
func releasedNames(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("testdata/released-logical-names.txt")
	require.NoError(t, err)
	defer f.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			typ, name, ok := strings.Cut(line, " ")
			require.True(t, ok, "bad fixture line %q", line)
			names[stateKey(typ, name)] = true
		}
	}
	require.NoError(t, sc.Err())
	return names
}

// TestExistingStacksUpgradeWithoutReplacement: a stack made while logical
// names followed namePrefix (here "Bio7-VPC", ...) upgrades to the fixed
// names through aliases: every resource is found, nothing is replaced.
func TestExistingStacksUpgradeWithoutReplacement(t *testing.T) {
	released := releasedNames(t)
	for _, mode := range egressModes {
		changes := map[string]string{"researchEgress": mode, "namePrefix": "Bio7"}
		prior := priorState{}
		for _, r := range recorded(deploy(t, changes)).refreshed(true) {
			if released[stateKey(r.Type, r.Name)] && strings.HasPrefix(r.Name, logicalName("")) {
				r.Name = "Bio7-" + strings.TrimPrefix(r.Name, logicalName("")) // AWS IDs do not follow logical names
			}
			prior[stateKey(r.Type, r.Name)] = r
		}
		second, resolved := secondUp(t, prior, changes)
		p := diffAgainst(t, prior, second, resolved)
		assert.Empty(t, p.Created, "%s mode: upgrading a stack named after its prefix creates resources (an alias is missing)", mode)
		assert.Empty(t, p.Deleted, "%s mode: upgrading a stack named after its prefix deletes resources", mode)
		assert.Empty(t, p.Replaced, "%s mode: upgrading a stack named after its prefix replaces resources", mode)
	}
}
