package main

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Type tokens of the resources the lab declares.
const (
	typeVPC        = "aws:ec2/vpc:Vpc"
	typeSubnet     = "aws:ec2/subnet:Subnet"
	typeRouteTable = "aws:ec2/routeTable:RouteTable"
	typeRTA        = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	typeSG         = "aws:ec2/securityGroup:SecurityGroup"
	typeIngress    = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	typeEgress     = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	typeInstance   = "aws:ec2/instance:Instance"
	typeEIP        = "aws:ec2/eip:Eip"
	typeEIPAssoc   = "aws:ec2/eipAssociation:EipAssociation"
	typeNAT        = "aws:ec2/natGateway:NatGateway"
	typeEndpoint   = "aws:ec2/vpcEndpoint:VpcEndpoint"
	typeRoute      = "aws:ec2/route:Route"
	typeState      = "aws:ec2transitgateway/instanceState:InstanceState"
	typeBudget     = "aws:budgets/budget:Budget"
	typeKeyPair    = "aws:ec2/keyPair:KeyPair"
	typeBucket     = "aws:s3/bucketV2:BucketV2"
	typeObject     = "aws:s3/bucketObjectv2:BucketObjectv2"
	typeIGW        = "aws:ec2/internetGateway:InternetGateway"
	typeParameter  = "aws:ssm/parameter:Parameter"
)

// recordedResource is one resource the program declared, with its inputs as
// the engine would receive them.
type recordedResource struct {
	Type   string
	Name   string
	ID     string
	Inputs resource.PropertyMap
	State  resource.PropertyMap // inputs plus what the mock computed
	// Options are the resource options as the engine receives them
	// (dependencies, ignoreChanges, deleteBeforeReplace, retainOnDelete).
	Options *pulumirpc.RegisterResourceRequest
}

// recordingMocks stands in for AWS: it records every resource the program
// declares and answers its lookups with plausible values. The tests and the
// offline plan both use it, so they see the very same stack.
type recordingMocks struct {
	region string

	mu        sync.Mutex
	resources []recordedResource
	calls     []pulumi.MockCallArgs
	hosts     map[string]int // next host number per subnet ID
	// notOffered lists "<zone> <instance type>" pairs that AWS does not offer.
	notOffered map[string]bool
}

// hostNumber is a documentation address's last byte for a resource: the same
// name always gets the same address, whatever order resources register in.
func hostNumber(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return 10 + int(h.Sum32()%240)
}

func newRecordingMocks(region string) *recordingMocks {
	return &recordingMocks{region: region, hosts: map[string]int{}}
}

func (m *recordingMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	state := args.Inputs.Copy()
	id := args.Name + "-id"
	set := func(k, v string) { state[resource.PropertyKey(k)] = resource.NewStringProperty(v) }
	switch args.TypeToken {
	case "aws:ec2/eip:Eip":
		set("publicIp", fmt.Sprintf("203.0.113.%d", hostNumber(args.Name)))
		set("allocationId", "eipalloc-"+args.Name)
		id = "eipalloc-" + args.Name
	case "aws:ec2/instance:Instance":
		subnet := args.Inputs["subnetId"].StringValue()
		if cidr := m.subnetCIDR(subnet); cidr.IsValid() {
			m.hosts[subnet]++
			addr := cidr.Addr()
			for i := 0; i < 9+m.hosts[subnet]; i++ {
				addr = addr.Next()
			}
			set("privateIp", addr.String())
		}
		if propBool(args.Inputs, "associatePublicIpAddress") {
			set("publicIp", fmt.Sprintf("198.51.100.%d", hostNumber(args.Name)))
		}
		set("primaryNetworkInterfaceId", "eni-"+args.Name)
		id = "i-" + args.Name
	case typeNAT:
		set("publicIp", fmt.Sprintf("203.0.113.%d", hostNumber(args.Name)))
	case "aws:s3/bucketV2:BucketV2":
		name := args.Name + "-1a2b3c4"
		if v, ok := args.Inputs["bucket"]; ok && v.IsString() && v.StringValue() != "" {
			name = v.StringValue()
		}
		set("bucket", name)
		set("arn", "arn:aws:s3:::"+name)
		id = name
	case "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile":
		set("name", args.Name+"-1a2b3c4")
		set("arn", "arn:aws:iam::123456789012:role/"+args.Name)
		id = args.Name + "-1a2b3c4"
	case "aws:ssm/parameter:Parameter":
		if v, ok := args.Inputs["name"]; !ok || !v.IsString() || v.StringValue() == "" {
			set("name", args.Name+"-1a2b3c4")
		}
		set("arn", fmt.Sprintf("arn:aws:ssm:%s:123456789012:parameter/%s", m.region, state["name"].StringValue()))
		id = state["name"].StringValue()
	case "aws:ec2/keyPair:KeyPair":
		set("keyName", args.Name+"-1a2b3c4")
		id = args.Name + "-1a2b3c4"
	}
	m.resources = append(m.resources, recordedResource{Type: args.TypeToken, Name: args.Name, ID: id, Inputs: args.Inputs, State: state, Options: args.RegisterRPC})
	return id, state, nil
}

func (m *recordingMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args)
	m.mu.Unlock()
	arch := func(s string) string {
		for _, a := range []string{"arm64", "amd64", "x86_64"} {
			if strings.Contains(s, a) {
				return a
			}
		}
		return "unknown"
	}
	switch args.Token {
	case "aws:ec2/getInstances:getInstances":
		// Offline the lab has no servers yet.
		return resource.NewPropertyMapFromMap(map[string]any{"id": m.region, "ids": []any{}}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]any{"name": m.region, "id": m.region}), nil
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{
			"names": []any{m.region + "a", m.region + "b", m.region + "c"}, "id": m.region,
		}), nil
	case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
		// Offline nothing says where a type is offered: every zone offers
		// every type asked for, unless the test says otherwise.
		var types, zones []any
		for _, f := range args.Args["filters"].ArrayValue() {
			for _, v := range f.ObjectValue()["values"].ArrayValue() {
				for _, z := range []string{"a", "b", "c"} {
					if m.notOffered == nil || !m.notOffered[m.region+z+" "+v.StringValue()] {
						types, zones = append(types, v.StringValue()), append(zones, m.region+z)
					}
				}
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"instanceTypes": types, "locations": zones, "id": m.region}), nil
	case "aws:ec2/getAmi:getAmi":
		filter := fmt.Sprint(args.Args["filters"])
		return resource.NewPropertyMapFromMap(map[string]any{"id": "ami-ubuntu-jammy-" + arch(filter), "imageId": "ami-ubuntu-jammy-" + arch(filter)}), nil
	case "aws:ssm/getParameter:getParameter":
		name := args.Args["name"].StringValue()
		return resource.NewPropertyMapFromMap(map[string]any{"name": name, "value": "ami-al2023-" + arch(name), "type": "String"}), nil
	}
	return nil, fmt.Errorf("recording mock: no answer for %s", args.Token)
}

// subnetCIDR finds a declared subnet's CIDR by its ID; the caller holds m.mu.
func (m *recordingMocks) subnetCIDR(id string) netip.Prefix {
	for _, r := range m.resources {
		if r.Type == "aws:ec2/subnet:Subnet" && r.ID == id {
			p, _ := netip.ParsePrefix(r.Inputs["cidrBlock"].StringValue())
			return p
		}
	}
	return netip.Prefix{}
}

// all returns every recorded resource, ordered by type and name.
func (m *recordingMocks) all() []recordedResource {
	m.mu.Lock()
	out := append([]recordedResource(nil), m.resources...)
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// ofType returns the recorded resources of one type, ordered by name.
func (m *recordingMocks) ofType(typ string) []recordedResource {
	var out []recordedResource
	for _, r := range m.all() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// ofName returns the recorded resource with this logical name, or an empty one.
func (m *recordingMocks) ofName(name string) recordedResource {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.resources {
		if r.Name == name {
			return r
		}
	}
	return recordedResource{}
}

// byID returns the recorded resource with this ID.
func (m *recordingMocks) byID(id string) (recordedResource, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.resources {
		if r.ID == id {
			return r, true
		}
	}
	return recordedResource{}, false
}

// mockRun is one run of the program under the recording mock.
type mockRun struct {
	Infra   *infrastructure
	Mocks   *recordingMocks
	Outputs map[string]any  // resolved stack outputs
	Secret  map[string]bool // which outputs are secret
}

// runUnderMocks runs createInfrastructure for a stack whose configuration is
// given as "research-lab:key" (or "aws:region") -> value, without the Pulumi
// CLI or AWS. The configuration reaches the program on the Pulumi context,
// as the engine hands it to an inline program.
func runUnderMocks(stack string, config map[string]string, secretKeys []string) (*mockRun, error) {
	region := config["aws:region"]
	if region == "" {
		region = regionFallback
	}
	return runWithMocks(stack, config, secretKeys, newRecordingMocks(region))
}

// runWithMocks is runUnderMocks with mocks of the caller's.
func runWithMocks(stack string, config map[string]string, secretKeys []string, mocks *recordingMocks) (*mockRun, error) {
	withConfig := func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys = maps.Clone(config), slices.Clone(secretKeys)
	}
	run := &mockRun{Mocks: mocks, Outputs: map[string]any{}, Secret: map[string]bool{}}
	var mu sync.Mutex
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		infra, err := createInfrastructure(withStackKeys(ctx, slices.Collect(maps.Keys(config))))
		if err != nil {
			return err
		}
		run.Infra = infra
		for k, o := range infra.Outputs {
			o.ApplyT(func(v any) any {
				mu.Lock()
				defer mu.Unlock()
				run.Outputs[k] = v
				return nil
			})
		}
		return nil
	}, pulumi.WithMocks(projectName, stack, run.Mocks), withConfig)
	if err != nil {
		return run, err
	}
	for k, o := range run.Infra.Outputs {
		run.Secret[k] = pulumi.IsSecret(o)
	}
	return run, nil
}
