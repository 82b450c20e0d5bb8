// Command awsstandin stands in for the AWS provider in the engine tests: the
// tests build it as pulumi-resource-aws and put it on PATH, where the Pulumi
// engine takes it for the provider whatever version the program asks for.
// It answers every resource type and function the lab uses the way AWS
// answers (ids, ARNs, private addresses inside the subnet, a public address
// only while an instance runs with one or has an Elastic IP), reads back what
// AWS reads back, and replaces by the project's table (internal/awsmodel).
//
// Its cloud is a JSON file in the folder $RESEARCH_LAB_STANDIN, so it
// outlives each provider process; calls.log there records every Create,
// Read, Update and Delete in order. `awsstandin stop INSTANCE-ID` stops an
// instance outside Pulumi, as an AWS Academy session end does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is the pulumi-aws release the stand-in claims to be (go.mod's).
const version = "6.83.4"

func main() {
	dir := os.Getenv("RESEARCH_LAB_STANDIN")
	if dir == "" {
		fail(errors.New("RESEARCH_LAB_STANDIN must name the folder of the stand-in's cloud"))
	}
	p := &provider{dir: dir}
	if len(os.Args) == 3 && os.Args[1] == "stop" {
		fail(p.update(func(w *world) error {
			inst, ok := w.Instances[os.Args[2]]
			if !ok {
				return fmt.Errorf("no instance %s", os.Args[2])
			}
			inst.setRunning(w, false)
			return nil
		}))
		return
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{Init: func(s *grpc.Server) error {
		pulumirpc.RegisterResourceProviderServer(s, p)
		return nil
	}})
	if err != nil {
		fail(err)
	}
	fmt.Println(handle.Port) // what the engine reads to connect
	fail(<-handle.Done)
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws stand-in:", err)
		os.Exit(1)
	}
}

// world is the stand-in's cloud: what later calls must see.
type world struct {
	Serial    int
	Region    string
	Subnets   map[string]string // subnet ID -> CIDR
	Hosts     map[string]int    // subnet ID -> addresses handed out
	EIPs      map[string]string // allocation ID -> address
	Instances map[string]*instance
}

type instance struct {
	Running   bool
	OwnPublic bool   // launched with associatePublicIpAddress
	PublicIP  string // its own address, released at a stop
	EIP       string // the Elastic IP associated, kept while stopped
	Tags      map[string]string
	RootGB    int // the root volume's size, which EBS can grow and never shrink
}

// declare sets what AWS keeps of an instance's declaration: its tags and
// its root volume's size. A smaller root volume is refused as EC2's
// ModifyVolume refuses it, which terraform-provider-aws calls for a changed
// root_block_device.0.volume_size (internal/service/ec2/ec2_instance.go).
func (i *instance) declare(in resource.PropertyMap) error {
	i.Tags = map[string]string{}
	if tags := in["tags"]; tags.IsObject() {
		for k, v := range tags.ObjectValue() {
			if v.IsString() {
				i.Tags[string(k)] = v.StringValue()
			}
		}
	}
	size := 0
	if root := in["rootBlockDevice"]; root.IsObject() {
		if v := root.ObjectValue()["volumeSize"]; v.IsNumber() {
			size = int(v.NumberValue())
		}
	}
	if size < i.RootGB {
		return fmt.Errorf("InvalidParameterValue: New size cannot be smaller than existing size (the root volume has %d GiB, the update asks for %d)", i.RootGB, size)
	}
	i.RootGB = size
	return nil
}

// setRunning starts or stops an instance: a start gives a launched-public
// instance a new address of its own, a stop releases it.
func (i *instance) setRunning(w *world, running bool) {
	i.Running, i.PublicIP = running, ""
	if running && i.OwnPublic {
		i.PublicIP = fmt.Sprintf("198.51.100.%d", 10+w.next()%240)
	}
}

// state is the instance's state as EC2 names it.
func (i *instance) state() string {
	if i.Running {
		return "running"
	}
	return "stopped"
}

// publicIP is the address AWS reports for the instance now.
func (i *instance) publicIP() string {
	if i.EIP != "" {
		return i.EIP
	}
	return i.PublicIP
}

func (w *world) next() int { w.Serial++; return w.Serial }

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	dir string
	mu  sync.Mutex
}

// update runs f on the cloud read from disk and writes it back.
func (p *provider) update(f func(*world) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	path := filepath.Join(p.dir, "world.json")
	w := &world{Subnets: map[string]string{}, Hosts: map[string]int{}, EIPs: map[string]string{}, Instances: map[string]*instance{}}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, w); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := f(w); err != nil {
		return err
	}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// record appends one call to calls.log: "<method> <type> <name> <id>".
func (p *provider) record(method string, u string, id string) error {
	f, err := os.OpenFile(filepath.Join(p.dir, "calls.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	urn := resource.URN(u)
	_, err = fmt.Fprintf(f, "%s %s %s %s\n", method, urn.Type(), urn.Name(), id)
	return errors.Join(err, f.Close())
}

var opts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, opts)
}

// unmarshalAll is unmarshal of each of a request's property maps.
func unmarshalAll(structs ...*structpb.Struct) ([]resource.PropertyMap, error) {
	maps := make([]resource.PropertyMap, len(structs))
	for i, s := range structs {
		m, err := unmarshal(s)
		if err != nil {
			return nil, err
		}
		maps[i] = m
	}
	return maps, nil
}
func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, opts)
}

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *provider) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	// Where the provider looks for its region: its configuration, then
	// the environment; it has no default.
	region := req.GetVariables()["aws:config:region"]
	if r := req.GetArgs().GetFields()["region"]; r != nil && r.GetStringValue() != "" {
		region = r.GetStringValue()
	}
	for _, env := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = os.Getenv(env)
		}
	}
	if region == "" {
		return nil, errors.New("no AWS region: set aws:region or AWS_REGION")
	}
	err := p.update(func(w *world) error { w.Region = region; return nil })
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, err
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	in, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		out, err := marshal(in)
		return &pulumirpc.CreateResponse{Properties: out}, err
	}
	var id string
	var state resource.PropertyMap
	err = p.update(func(w *world) error {
		id, state = created(w, resource.URN(req.GetUrn()), in)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: out}, p.record("Create", req.GetUrn(), id)
}

// created is what AWS answers for a new resource: its ID and its state.
func created(w *world, urn resource.URN, in resource.PropertyMap) (string, resource.PropertyMap) {
	state := in.Copy()
	n := w.next()
	str := func(k string) string { return plainString(in, k) }
	set := func(k, v string) { state[resource.PropertyKey(k)] = resource.NewStringProperty(v) }
	named := func(k string) string { // an autonamed name, unless declared
		if v := str(k); v != "" {
			return v
		}
		v := fmt.Sprintf("%s-%07x", urn.Name(), n)
		set(k, v)
		return v
	}
	arn := func(service, res string) {
		set("arn", fmt.Sprintf("arn:aws:%s:%s:123456789012:%s", service, w.Region, res))
	}
	id := fmt.Sprintf("%s-%08x", strings.ToLower(urn.Type().Name().String()), n)
	switch urn.Type() {
	case "aws:ec2/subnet:Subnet":
		w.Subnets[id] = str("cidrBlock")
		if str("availabilityZone") == "" {
			set("availabilityZone", w.Region+"a")
		}
	case "aws:ec2/eip:Eip":
		id = fmt.Sprintf("eipalloc-%08x", n)
		w.EIPs[id] = fmt.Sprintf("203.0.113.%d", 10+n%240)
		set("allocationId", id)
		set("publicIp", w.EIPs[id])
	case "aws:ec2/eipAssociation:EipAssociation":
		if inst := w.Instances[str("instanceId")]; inst != nil {
			inst.EIP = w.EIPs[str("allocationId")]
		}
		set("publicIp", w.EIPs[str("allocationId")])
	case "aws:ec2/natGateway:NatGateway":
		set("publicIp", w.EIPs[str("allocationId")])
	case "aws:ec2/instance:Instance":
		id = fmt.Sprintf("i-%08x", n)
		inst := &instance{OwnPublic: plainBool(in, "associatePublicIpAddress")}
		_ = inst.declare(in) // a new volume: any size
		inst.setRunning(w, true)
		w.Instances[id] = inst
		subnet := str("subnetId")
		w.Hosts[subnet]++
		set("privateIp", hostAddress(w.Subnets[subnet], 9+w.Hosts[subnet]))
		set("primaryNetworkInterfaceId", fmt.Sprintf("eni-%08x", n))
		readInstance(state, inst)
	case "aws:s3/bucketV2:BucketV2":
		id = named("bucket")
		set("arn", "arn:aws:s3:::"+id)
	case "aws:s3/bucketObjectv2:BucketObjectv2":
		id = str("key")
	case "aws:ec2/keyPair:KeyPair":
		id = named("keyName")
	case "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile":
		id = named("name")
		set("arn", fmt.Sprintf("arn:aws:iam::123456789012:%s/%s", strings.ToLower(urn.Type().Name().String()), id))
	case "aws:ssm/parameter:Parameter":
		id = named("name")
		arn("ssm", "parameter/"+strings.TrimPrefix(id, "/"))
	case "aws:budgets/budget:Budget":
		id = "123456789012:" + named("name")
	case "aws:ec2transitgateway/instanceState:InstanceState":
		id = str("instanceId")
		if inst := w.Instances[id]; inst != nil {
			inst.setRunning(w, str("state") == "running")
		}
	}
	if _, ok := state["arn"]; !ok {
		service, _, _ := strings.Cut(strings.TrimPrefix(string(urn.Type()), "aws:"), "/")
		arn(service, id)
	}
	return id, state
}

// readInstance sets what AWS reports of an instance now.
func readInstance(state resource.PropertyMap, inst *instance) {
	state["publicIp"] = resource.NewStringProperty(inst.publicIP())
	// terraform-provider-aws internal/service/ec2/ec2_instance.go:
	// d.Set("associate_public_ip_address", primaryNetworkInterface.Association != nil)
	state["associatePublicIpAddress"] = resource.NewBoolProperty(inst.publicIP() != "")
	state["instanceState"] = resource.NewStringProperty(inst.state())
}

// hostAddress is the n-th address of an IPv4 CIDR.
func hostAddress(cidr string, n int) string {
	var a, b, c, d, bits int
	if _, err := fmt.Sscanf(cidr, "%d.%d.%d.%d/%d", &a, &b, &c, &d, &bits); err != nil {
		return ""
	}
	v := (a<<24 | b<<16 | c<<8 | d) + n
	return fmt.Sprintf("%d.%d.%d.%d", v>>24&255, v>>16&255, v>>8&255, v&255)
}

func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	maps, err := unmarshalAll(req.GetProperties(), req.GetInputs())
	if err != nil {
		return nil, err
	}
	state, inputs, id := maps[0], maps[1], req.GetId()
	err = p.update(func(w *world) error {
		switch resource.URN(req.GetUrn()).Type() {
		case "aws:ec2/instance:Instance":
			if inst := w.Instances[id]; inst != nil {
				readInstance(state, inst)
			} else {
				id = "" // terminated
			}
		case "aws:ec2transitgateway/instanceState:InstanceState":
			if inst := w.Instances[id]; inst != nil {
				state["state"] = resource.NewStringProperty(inst.state())
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A refresh rewrites the inputs the state holds to what was read
	// (pulumi-terraform-bridge pkg/tfbridge/provider.go, Read).
	for k := range inputs {
		if v, ok := state[k]; ok {
			inputs[k] = v
		}
	}
	out, err := marshal(state)
	if err != nil {
		return nil, err
	}
	in, err := marshal(inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: id, Properties: out, Inputs: in}, p.record("Read", req.GetUrn(), req.GetId())
}

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	maps, err := unmarshalAll(req.GetOlds(), req.GetOldInputs(), req.GetNews())
	if err != nil {
		return nil, err
	}
	replaces, diffs := diff(resource.URN(req.GetUrn()).Type().String(), maps[0], maps[1], maps[2], req.GetIgnoreChanges())
	if len(replaces)+len(diffs) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: replaces, Diffs: append(replaces, diffs...)}, nil
}

func (p *provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	maps, err := unmarshalAll(req.GetOlds(), req.GetNews())
	if err != nil {
		return nil, err
	}
	news, state := maps[1], maps[0].Copy()
	for k, v := range news {
		state[k] = v
	}
	if !req.GetPreview() {
		err = p.update(func(w *world) error {
			inst := w.Instances[req.GetId()]
			switch typ := resource.URN(req.GetUrn()).Type(); {
			case inst != nil && typ == "aws:ec2transitgateway/instanceState:InstanceState":
				inst.setRunning(w, plainString(news, "state") == "running")
			case inst != nil && typ == "aws:ec2/instance:Instance":
				if err := inst.declare(news); err != nil {
					return err
				}
				readInstance(state, inst)
			}
			return nil
		})
		if err == nil {
			err = p.record("Update", req.GetUrn(), req.GetId())
		}
		if err != nil {
			return nil, err
		}
	}
	out, err := marshal(state)
	return &pulumirpc.UpdateResponse{Properties: out}, err
}

func (p *provider) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	err = p.update(func(w *world) error {
		switch resource.URN(req.GetUrn()).Type() {
		case "aws:ec2/instance:Instance":
			delete(w.Instances, req.GetId())
		case "aws:ec2/eipAssociation:EipAssociation":
			if inst := w.Instances[plainString(state, "instanceId")]; inst != nil {
				inst.EIP = ""
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, p.record("Delete", req.GetUrn(), req.GetId())
}

func (p *provider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	args, err := unmarshal(req.GetArgs())
	if err != nil {
		return nil, err
	}
	var region string
	if err := p.update(func(w *world) error { region = w.Region; return nil }); err != nil {
		return nil, err
	}
	zones := []any{region + "a", region + "b", region + "c"}
	arch := "arm64"
	if strings.Contains(fmt.Sprint(args.Mappable()), "amd64") || strings.Contains(fmt.Sprint(args.Mappable()), "x86_64") {
		arch = "x86_64"
	}
	var ret map[string]any
	switch req.GetTok() {
	case "aws:index/getRegion:getRegion":
		ret = map[string]any{"id": region, "name": region, "endpoint": "ec2." + region + ".amazonaws.com"}
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		ret = map[string]any{"id": region, "names": zones, "zoneIds": []any{"use1-az1", "use1-az2", "use1-az3"}}
	case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
		// Every zone offers every type asked for, but the pairs
		// $RESEARCH_LAB_STANDIN_NOT_OFFERED lists ("us-east-1a/t4g.medium ...").
		notOffered := strings.Fields(os.Getenv("RESEARCH_LAB_STANDIN_NOT_OFFERED"))
		var types, locations []any
		for _, f := range args["filters"].ArrayValue() {
			if plainString(f.ObjectValue(), "name") != "instance-type" {
				continue
			}
			for _, t := range f.ObjectValue()["values"].ArrayValue() {
				for _, z := range zones {
					if !slices.Contains(notOffered, fmt.Sprint(z, "/", t.StringValue())) {
						types, locations = append(types, t.StringValue()), append(locations, z)
					}
				}
			}
		}
		ret = map[string]any{"id": region, "instanceTypes": types, "locations": locations}
	case "aws:ec2/getInstances:getInstances":
		// The instances whose tags and state match every filter (tag:KEY
		// values are patterns, as EC2's DescribeInstances takes them).
		ids := []any{}
		err := p.update(func(w *world) error {
			for id, inst := range w.Instances {
				if matchesFilters(inst, args["filters"].ArrayValue()) {
					ids = append(ids, id)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		ret = map[string]any{"id": region, "ids": ids, "privateIps": []any{}, "publicIps": []any{}, "ipv6Addresses": []any{}}
	case "aws:ec2/getInstance:getInstance":
		id := plainString(args, "instanceId")
		err := p.update(func(w *world) error {
			inst := w.Instances[id]
			if inst == nil {
				return errors.New("Your query returned no results. Please change your search criteria and try again.")
			}
			ret = map[string]any{"id": id, "instanceState": inst.state(),
				"rootBlockDevices": []any{map[string]any{"volumeSize": inst.RootGB, "volumeType": "gp3", "encrypted": true}}}
			return nil
		})
		if err != nil {
			return nil, err
		}
	case "aws:ec2/getAmi:getAmi":
		ret = map[string]any{"id": "ami-ubuntu-jammy-" + arch, "imageId": "ami-ubuntu-jammy-" + arch, "architecture": arch}
	case "aws:ssm/getParameter:getParameter":
		name := plainString(args, "name")
		ret = map[string]any{"id": name, "name": name, "type": "String", "value": "ami-al2023-" + arch, "insecureValue": "ami-al2023-" + arch}
	case "aws:servicequotas/getServiceQuota:getServiceQuota":
		if ret, err = serviceQuota(args, region); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("the AWS stand-in does not answer %s", req.GetTok())
	}
	out, err := marshal(resource.NewPropertyMapFromMap(ret))
	return &pulumirpc.InvokeResponse{Return: out}, err
}

// matchesFilters says whether an instance passes DescribeInstances filters
// on its tags (tag:KEY) and its state (instance-state-name).
func matchesFilters(inst *instance, filters []resource.PropertyValue) bool {
	state := inst.state()
	for _, f := range filters {
		name := plainString(f.ObjectValue(), "name")
		have, ok := state, name == "instance-state-name"
		if key, isTag := strings.CutPrefix(name, "tag:"); isTag {
			have, ok = inst.Tags[key]
		}
		if !ok {
			return false
		}
		matched := false
		for _, v := range f.ObjectValue()["values"].ArrayValue() {
			if m, _ := path.Match(v.StringValue(), have); m {
				matched = true
			}
		}
		if !matched {
			return false
		}
	}
	return true
}

func plainString(m resource.PropertyMap, k string) string {
	if v, ok := m[resource.PropertyKey(k)]; ok {
		if v = plain(v); v.IsString() {
			return v.StringValue()
		}
	}
	return ""
}

func plainBool(m resource.PropertyMap, k string) bool {
	v := plain(m[resource.PropertyKey(k)])
	return v.IsBool() && v.BoolValue()
}

func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// serviceQuota answers getServiceQuota from $RESEARCH_LAB_STANDIN_QUOTAS,
// the account's applied values ("L-F678F1CE=50 L-0263D0A3=5 ..."). Unset,
// the account has no credentials, as the provider says then; a code it
// does not list is one Service Quotas does not know.
func serviceQuota(args resource.PropertyMap, region string) (map[string]any, error) {
	applied, ok := os.LookupEnv("RESEARCH_LAB_STANDIN_QUOTAS")
	if !ok {
		return nil, errors.New("No valid credential sources found. Please see https://www.pulumi.com/registry/packages/aws/installation-configuration/ for more information about providing credentials")
	}
	service, code := plainString(args, "serviceCode"), plainString(args, "quotaCode")
	for _, f := range strings.Fields(applied) {
		c, v, _ := strings.Cut(f, "=")
		var value float64
		if _, err := fmt.Sscan(v, &value); c != code || err != nil {
			continue
		}
		arn := fmt.Sprintf("arn:aws:servicequotas:%s:123456789012:%s/%s", region, service, code)
		return map[string]any{"id": arn, "arn": arn, "serviceCode": service, "quotaCode": code, "value": value, "adjustable": true}, nil
	}
	return nil, fmt.Errorf("getting Default Service Quota for (%s/%s): NoSuchResourceException: The request failed because the specified service does not exist", service, code)
}
