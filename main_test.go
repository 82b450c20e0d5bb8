package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	testPublicKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/ student@lab"
	testVPNPassword = "vpn-Adm1n-pass"
	testJupyterPass = "jupyter-S3cret-pass"
)

// stackConfig is a valid configuration with the given keys changed; a value
// of "-" removes the key.
func stackConfig(changes map[string]string) map[string]string {
	c := map[string]string{
		"aws:region":                    "us-east-1",
		"research-lab:sshPublicKey":     testPublicKey,
		"research-lab:vpnAdminPassword": testVPNPassword,
		"research-lab:jupyterPassword":  testJupyterPass,
	}
	for k, v := range changes {
		if !strings.Contains(k, ":") {
			k = projectName + ":" + k
		}
		if v == "-" {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

var secretKeys = []string{"research-lab:vpnAdminPassword", "research-lab:jupyterPassword"}

// deploy runs the program under the recording mock and fails the test if it
// does not succeed.
func deploy(t *testing.T, changes map[string]string) *mockRun {
	t.Helper()
	run, err := runUnderMocks("dev", stackConfig(changes), secretKeys)
	require.NoError(t, err, "a valid configuration must deploy")
	return run
}

func object(m resource.PropertyMap, key string) resource.PropertyMap {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || !v.IsObject() {
		return resource.PropertyMap{}
	}
	return v.ObjectValue()
}

func one(t *testing.T, run *mockRun, typ, name string) recordedResource {
	t.Helper()
	for _, r := range run.Mocks.ofType(typ) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %s was declared", typ, name)
	return recordedResource{}
}

// userDataOf is the cloud-config a server receives, as text, whether it is
// sent as it is (userData) or gzip-compressed (userDataBase64).
func userDataOf(t *testing.T, in recordedResource) string {
	t.Helper()
	text, _ := userDataAndSize(t, in)
	return text
}

// userDataAndSize is the cloud-config and its size as EC2 counts it.
func userDataAndSize(t *testing.T, in recordedResource) (string, int) {
	t.Helper()
	encoded := propString(in.Inputs, "userDataBase64")
	if encoded == "" {
		text := propString(in.Inputs, "userData")
		return text, len(text)
	}
	require.Empty(t, propString(in.Inputs, "userData"), "%s sets both userData and userDataBase64", in.Name)
	raw, err := base64.StdEncoding.DecodeString(encoded)
	require.NoError(t, err, "%s userDataBase64", in.Name)
	r, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err, "%s userDataBase64 is not gzip, which is all cloud-init would decompress", in.Name)
	text, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(text), len(raw)
}

func nameOf(run *mockRun, id string) string {
	if r, ok := run.Mocks.byID(id); ok {
		return r.Name
	}
	return "unknown " + id
}

// egressModes are every researchEgress mode.
var egressModes = []string{"nat-instance", "nat-gateway", "internet-gateway", "none"}

func TestNetworkLayoutInEachEgressMode(t *testing.T) {
	for _, mode := range egressModes {
		t.Run(mode, func(t *testing.T) {
			run := deploy(t, map[string]string{"researchEgress": mode})
			vpc := one(t, run, typeVPC, "HOL02-VPC")
			assert.Equal(t, "10.0.0.0/16", propString(vpc.Inputs, "cidrBlock"))
			assert.True(t, propBool(vpc.Inputs, "enableDnsHostnames"), "the VPC must have DNS hostnames on")

			wantCIDR := map[string]string{"HOL02-DMZ": "10.0.1.0/24", "HOL02-Production": "10.0.2.0/24", "HOL02-Research": "10.0.3.0/24"}
			subnets := run.Mocks.ofType(typeSubnet)
			require.Len(t, subnets, 3)
			for _, s := range subnets {
				assert.Equal(t, wantCIDR[s.Name], propString(s.Inputs, "cidrBlock"), "subnet %s CIDR", s.Name)
				assert.Equal(t, "us-east-1a", propString(s.Inputs, "availabilityZone"), "subnet %s must be in the region's first zone", s.Name)
				require.Contains(t, s.Inputs, resource.PropertyKey("mapPublicIpOnLaunch"), "subnet %s must say whether it hands out public IPs", s.Name)
				assert.False(t, propBool(s.Inputs, "mapPublicIpOnLaunch"), "subnet %s must not hand out public IPs by itself", s.Name)
				assert.Equal(t, s.Name, propString(object(s.Inputs, "tags"), "Name"))
			}

			// Each subnet is associated with its own route table.
			assoc := map[string]string{}
			for _, a := range run.Mocks.ofType(typeRTA) {
				assoc[nameOf(run, propString(a.Inputs, "subnetId"))] = nameOf(run, propString(a.Inputs, "routeTableId"))
			}
			assert.Equal(t, map[string]string{"HOL02-DMZ": "HOL02-DMZ-RT", "HOL02-Production": "HOL02-Production-RT", "HOL02-Research": "HOL02-Research-RT"}, assoc)

			inlineDefault := func(rt string) string {
				r := one(t, run, typeRouteTable, rt)
				require.True(t, r.Inputs["routes"].IsArray(), "%s must list its routes explicitly", rt)
				var targets []string
				for _, route := range r.Inputs["routes"].ArrayValue() {
					o := route.ObjectValue()
					if propString(o, "cidrBlock") == "0.0.0.0/0" {
						targets = append(targets, nameOf(run, routeTarget(o)))
					}
				}
				return strings.Join(targets, ",")
			}
			assert.Equal(t, "HOL02-IGW", inlineDefault("HOL02-DMZ-RT"), "DMZ must route 0.0.0.0/0 to the internet gateway")
			assert.Equal(t, "HOL02-IGW", inlineDefault("HOL02-Production-RT"), "Production must route 0.0.0.0/0 to the internet gateway")
			research := one(t, run, typeRouteTable, "HOL02-Research-RT")
			assert.NotContains(t, research.Inputs, resource.PropertyKey("routes"),
				"the Research table must declare no inline routes: they would delete its default route resource on every update")

			// The Research default route is a resource of its own, or absent.
			var routes []string
			for _, r := range run.Mocks.ofType(typeRoute) {
				assert.Equal(t, "HOL02-Research-RT", nameOf(run, propString(r.Inputs, "routeTableId")), "route %s", r.Name)
				assert.Equal(t, "0.0.0.0/0", propString(r.Inputs, "destinationCidrBlock"), "route %s", r.Name)
				target := routeTarget(r.Inputs)
				name := nameOf(run, target)
				for _, in := range run.Mocks.ofType(typeInstance) {
					if propString(in.State, "primaryNetworkInterfaceId") == target {
						name = in.Name + " (instance)"
					}
				}
				routes = append(routes, name)
			}
			want := map[string][]string{
				"nat-instance": {"HOL02-NAT (instance)"}, "nat-gateway": {"HOL02-NAT"}, "internet-gateway": {"HOL02-IGW"}, "none": nil,
			}[mode]
			assert.Equal(t, want, routes, "Research default route in %s mode", mode)

			nats := run.Mocks.ofType(typeNAT)
			if mode == "nat-gateway" {
				require.Len(t, nats, 1, "nat-gateway mode declares one NAT gateway")
				assert.Equal(t, "HOL02-DMZ", nameOf(run, propString(nats[0].Inputs, "subnetId")), "the NAT gateway must sit in a public subnet")
				assert.Equal(t, "HOL02-NAT-EIP", nameOf(run, propString(nats[0].Inputs, "allocationId")))
			} else {
				assert.Empty(t, nats, "%s mode must not pay for a NAT gateway", mode)
			}

			ep := one(t, run, typeEndpoint, "HOL02-S3-Endpoint")
			assert.Equal(t, "com.amazonaws.us-east-1.s3", propString(ep.Inputs, "serviceName"))
			assert.Equal(t, "Gateway", propString(ep.Inputs, "vpcEndpointType"))
			var rts []string
			for _, id := range propStrings(ep.Inputs, "routeTableIds") {
				rts = append(rts, nameOf(run, id))
			}
			assert.ElementsMatch(t, []string{"HOL02-DMZ-RT", "HOL02-Production-RT", "HOL02-Research-RT"}, rts, "notebook traffic from every subnet must use the S3 gateway endpoint")
		})
	}
}

// TestNATInstanceIsAHardenedRouter checks the nat-instance mode's server: a
// router in the DMZ that admits only the Research subnet and cannot be logged
// into from anywhere.
func TestNATInstanceIsAHardenedRouter(t *testing.T) {
	run := deploy(t, nil)
	nat := one(t, run, typeInstance, "HOL02-NAT")
	in := nat.Inputs
	assert.Equal(t, "HOL02-DMZ", nameOf(run, propString(in, "subnetId")), "the NAT instance sits in the public DMZ subnet")
	require.Contains(t, in, resource.PropertyKey("sourceDestCheck"))
	assert.False(t, propBool(in, "sourceDestCheck"), "a NAT instance must have the source/destination check off, or EC2 drops what it forwards")
	assert.True(t, propBool(in, "associatePublicIpAddress"), "the NAT instance needs a public address of its own to reach the internet")
	assert.NotContains(t, in, resource.PropertyKey("keyName"), "nobody logs into the NAT instance: it has no SSH key")
	assert.Equal(t, "t4g.nano", propString(in, "instanceType"))
	assert.Equal(t, "ami-al2023-arm64", propString(in, "ami"))
	groups := propStrings(in, "vpcSecurityGroupIds")
	require.Len(t, groups, 1)
	assert.Equal(t, "HOL02-NAT-SG", nameOf(run, groups[0]))
	for _, rule := range ruleSet(run) {
		if strings.HasPrefix(rule, "HOL02-NAT-SG:") {
			assert.Equal(t, "HOL02-NAT-SG: all from 10.0.3.0/24", rule, "the NAT instance admits the Research subnet and nothing else")
		}
	}
	ud := userDataOf(t, nat)
	assert.Contains(t, ud, "ip saddr 10.0.3.0/24 ip daddr != 10.0.0.0/16 masquerade", "only the Research subnet is masqueraded, and only out of the VPC")
	assert.Contains(t, ud, "net.ipv4.ip_forward = 1")
	assert.Equal(t, "required", propString(object(in, "metadataOptions"), "httpTokens"), "the NAT instance must allow IMDSv2 only")

	for _, mode := range []string{"nat-gateway", "internet-gateway", "none"} {
		run := deploy(t, map[string]string{"researchEgress": mode})
		for _, r := range run.Mocks.all() {
			assert.False(t, strings.HasPrefix(r.Name, "HOL02-NAT-SG"), "%s mode declares the NAT instance's %s", mode, r.Name)
			assert.False(t, r.Type == typeInstance && r.Name == "HOL02-NAT", "%s mode declares a NAT instance", mode)
		}
	}
}

// ruleSet describes every ingress rule as "<group>: <proto>/<port> from <source>".
func ruleSet(run *mockRun) []string {
	var out []string
	for _, r := range run.Mocks.ofType(typeIngress) {
		src := propString(r.Inputs, "cidrIpv4")
		if ref := propString(r.Inputs, "referencedSecurityGroupId"); ref != "" {
			src = "sg " + nameOf(run, ref)
		}
		port := rulePort(r.Inputs)
		if propString(r.Inputs, "toPort") != propString(r.Inputs, "fromPort") {
			src += fmt.Sprintf(" (range to %s!)", propString(r.Inputs, "toPort"))
		}
		if port == "all" && (propString(r.Inputs, "fromPort") != "" || propString(r.Inputs, "toPort") != "") {
			src += " (ports given with all protocols!)"
		}
		out = append(out, fmt.Sprintf("%s: %s from %s", nameOf(run, propString(r.Inputs, "securityGroupId")), port, src))
	}
	sort.Strings(out)
	return out
}

func TestSecurityGroupsReferenceEachOther(t *testing.T) {
	run := deploy(t, map[string]string{"adminCidrs": `["203.0.113.7/32","198.51.100.0/24"]`})
	want := []string{
		"HOL02-DMZ-SG: 1194/udp from 0.0.0.0/0",
		"HOL02-DMZ-SG: 22/tcp from 198.51.100.0/24",
		"HOL02-DMZ-SG: 22/tcp from 203.0.113.7/32",
		"HOL02-DMZ-SG: 443/tcp from 0.0.0.0/0",
		"HOL02-DMZ-SG: 943/tcp from 0.0.0.0/0",
		"HOL02-NAT-SG: all from 10.0.3.0/24",
		"HOL02-Production-SG: 22/tcp from sg HOL02-DMZ-SG",
		"HOL02-Production-SG: 443/tcp from 0.0.0.0/0",
		"HOL02-Production-SG: 80/tcp from 0.0.0.0/0",
		"HOL02-Research-SG: 22/tcp from sg HOL02-DMZ-SG",
		"HOL02-Research-SG: 8888/tcp from sg HOL02-DMZ-SG",
	}
	assert.Equal(t, want, ruleSet(run), "the inbound rules must be exactly the lab's; 945/tcp stays closed")

	for _, sg := range run.Mocks.ofType(typeSG) {
		assert.NotContains(t, sg.Inputs, resource.PropertyKey("ingress"), "group %s mixes inline rules with rule resources", sg.Name)
		assert.NotContains(t, sg.Inputs, resource.PropertyKey("egress"), "group %s mixes inline rules with rule resources", sg.Name)
	}
	assert.Len(t, run.Mocks.ofType(typeEgress), 4, "each group has one explicit egress rule")
}

func TestNoPathFromInternetToJupyter(t *testing.T) {
	for _, mode := range egressModes {
		t.Run(mode, func(t *testing.T) {
			run := deploy(t, map[string]string{"researchEgress": mode})
			for _, rule := range ruleSet(run) {
				if strings.HasPrefix(rule, "HOL02-Research-SG:") {
					assert.Contains(t, rule, "from sg HOL02-DMZ-SG", "Research rule %q admits a CIDR: Jupyter must be reachable only through the VPN", rule)
				}
			}
			jupyter := one(t, run, typeInstance, "HOL02-Jupyter")
			assert.Equal(t, "HOL02-Research", nameOf(run, propString(jupyter.Inputs, "subnetId")))
			assert.Equal(t, []string{"HOL02-Research-SG"}, []string{nameOf(run, propStrings(jupyter.Inputs, "vpcSecurityGroupIds")[0])})
			assert.Equal(t, mode == "internet-gateway", propBool(jupyter.Inputs, "associatePublicIpAddress"),
				"Jupyter gets a public IP only in internet-gateway mode, where it needs one for egress")
		})
	}
}

// TestPublicServersKeepTheirAddresses: the VPN and Voila have Elastic IPs, so
// every URL and ssh command stays right across a stop and start.
func TestPublicServersKeepTheirAddresses(t *testing.T) {
	run := deploy(t, nil)
	got := map[string]string{}
	for _, a := range run.Mocks.ofType(typeEIPAssoc) {
		got[nameOf(run, propString(a.Inputs, "instanceId"))] = nameOf(run, propString(a.Inputs, "allocationId"))
	}
	assert.Equal(t, map[string]string{"HOL02-VPN": "HOL02-VPN-EIP", "HOL02-VoilaServer": "HOL02-VoilaServer-EIP"}, got,
		"the VPN and Voila, and only they, keep an Elastic IP")
	for _, e := range run.Mocks.ofType(typeEIP) {
		assert.Empty(t, propString(e.Inputs, "instance"), "Elastic IP %s is bound to an instance directly", e.Name)
	}
	for _, name := range []string{"HOL02-VoilaServer", "HOL02-VPN"} {
		in := one(t, run, typeInstance, name).Inputs
		require.Contains(t, in, resource.PropertyKey("associatePublicIpAddress"))
		assert.False(t, propBool(in, "associatePublicIpAddress"), "%s is public through its Elastic IP, not a second address that changes", name)
	}
	voilaIP := propString(one(t, run, typeEIP, "HOL02-VoilaServer-EIP").State, "publicIp")
	assert.Equal(t, voilaIP, run.Outputs["voilaPublicIp"], "voilaPublicIp is Voila's Elastic IP")
	assert.Equal(t, "https://"+voilaIP+"/", run.Outputs["voilaUrl"], "voilaUrl names the Elastic IP, which survives a stop and holds the certificate")
	vpn := one(t, run, typeInstance, "HOL02-VPN")
	assert.Equal(t, run.Outputs["vpnPublicIp"], sourcedEnv(t, writtenFile(t, userDataOf(t, vpn), "/etc/research-lab/vpn.env"))["VPN_HOSTNAME"],
		"the VPN's host name must be its Elastic IP (the manual's first troubleshooting item)")
}

func TestInstancesAreHardened(t *testing.T) {
	run := deploy(t, nil)
	wantType := map[string]string{"HOL02-VPN": "t4g.micro", "HOL02-VoilaServer": "t4g.micro", "HOL02-Jupyter": "t4g.medium", "HOL02-NAT": "t4g.nano"}
	wantAMI := map[string]string{"HOL02-VPN": "ami-ubuntu-jammy-arm64", "HOL02-VoilaServer": "ami-al2023-arm64", "HOL02-Jupyter": "ami-al2023-arm64", "HOL02-NAT": "ami-al2023-arm64"}
	instances := run.Mocks.ofType(typeInstance)
	require.Len(t, instances, 4)
	for _, in := range instances {
		assert.Equal(t, wantType[in.Name], propString(in.Inputs, "instanceType"), "%s instance type", in.Name)
		assert.Equal(t, wantAMI[in.Name], propString(in.Inputs, "ami"), "%s image", in.Name)
		md := object(in.Inputs, "metadataOptions")
		assert.Equal(t, "required", propString(md, "httpTokens"), "%s must allow IMDSv2 only", in.Name)
		root := object(in.Inputs, "rootBlockDevice")
		assert.True(t, propBool(root, "encrypted"), "%s root volume must be encrypted", in.Name)
		assert.Equal(t, "gp3", propString(root, "volumeType"), "%s root volume type", in.Name)
		size := root["volumeSize"].NumberValue()
		assert.True(t, size >= 8 && size <= 30, "%s root volume of %v GiB is not a sensible size", in.Name, size)
		assert.Equal(t, "standard", propString(object(in.Inputs, "creditSpecification"), "cpuCredits"), "%s must not run up unlimited CPU credits", in.Name)
		assert.Contains(t, in.Options.GetIgnoreChanges(), "ami", "%s would be replaced whenever a newer image is published", in.Name)
		assert.True(t, propBool(in.Inputs, "userDataReplaceOnChange"), "%s must be replaced when its userdata changes", in.Name)
		assert.Equal(t, in.Name, propString(object(in.Inputs, "tags"), "Name"))
		assert.Equal(t, "research-lab", propString(object(in.Inputs, "tags"), "project"))
	}

	// The AMI lookups ask the right publishers.
	var asked []string
	for _, c := range run.Mocks.calls {
		switch c.Token {
		case "aws:ec2/getAmi:getAmi":
			asked = append(asked, fmt.Sprint(c.Args["owners"].ArrayValue()[0].StringValue(), " ", c.Args["filters"]))
		case "aws:ssm/getParameter:getParameter":
			asked = append(asked, c.Args["name"].StringValue())
		}
	}
	assert.Contains(t, asked, "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64")
	assert.Contains(t, strings.Join(asked, "\n"), "099720109477 ", "Ubuntu must come from Canonical's account")
	assert.Contains(t, strings.Join(asked, "\n"), "ubuntu-jammy-22.04-arm64-server-*")
}

func TestGravitonTypesGetArmImages(t *testing.T) {
	run := deploy(t, map[string]string{"vpnInstanceType": "t3.small", "jupyterInstanceType": "m7g.large", "voilaInstanceType": "t3a.small"})
	assert.Equal(t, "ami-ubuntu-jammy-amd64", propString(one(t, run, typeInstance, "HOL02-VPN").Inputs, "ami"))
	assert.Equal(t, "ami-al2023-arm64", propString(one(t, run, typeInstance, "HOL02-Jupyter").Inputs, "ami"))
	assert.Equal(t, "ami-al2023-x86_64", propString(one(t, run, typeInstance, "HOL02-VoilaServer").Inputs, "ami"))
	assert.Equal(t, "ami-al2023-arm64", propString(one(t, run, typeInstance, "HOL02-NAT").Inputs, "ami"))
	assert.NotContains(t, one(t, run, typeInstance, "HOL02-Jupyter").Inputs, resource.PropertyKey("creditSpecification"),
		"credit specification is only for burstable types")
}

func TestJupyterReplacementLosesNothing(t *testing.T) {
	run := deploy(t, nil)
	jupyter := one(t, run, typeInstance, "HOL02-Jupyter")
	assert.True(t, jupyter.Options.GetDeleteBeforeReplace(),
		"Jupyter must be replaced delete-before-create, so its last push lands before its successor restores")
	ud := userDataOf(t, jupyter)
	assert.Contains(t, ud, "ExecStop=/usr/local/bin/notebook-sync push", "Jupyter must push its notebooks at shutdown")
	assert.Contains(t, ud, "Before=jupyter.service", "the shutdown push must run after Jupyter has stopped")
	assert.Contains(t, ud, "After=network-online.target notebook-restore.service", "Jupyter must start after the restore")

	sample := one(t, run, typeObject, "sample-notebook")
	assert.Equal(t, "hol02/published/hol02-app.ipynb", propString(sample.Inputs, "key"), "the sample is published")
	assert.Contains(t, sample.Options.GetIgnoreChanges(), "content", "a later `pulumi up` must never overwrite a researcher's edits of the sample")
	assert.True(t, sample.Options.GetRetainOnDelete(), "the sample notebook is the researchers' once written")
	var nb map[string]any
	require.NoError(t, json.Unmarshal([]byte(propString(sample.Inputs, "content")), &nb), "the sample must be a JSON notebook")
	assert.Contains(t, propString(sample.Inputs, "content"), "ipywidgets")
	for _, name := range []string{"HOL02-Jupyter", "HOL02-VoilaServer"} {
		deps := one(t, run, typeInstance, name).Options.GetDependencies()
		assert.Contains(t, strings.Join(deps, " "), "::sample-notebook", "%s must boot after the sample notebook is in the bucket", name)
	}
	// What the shutdown push travels by is created before Jupyter and so
	// deleted after it.
	deps := strings.Join(jupyter.Options.GetDependencies(), " ")
	for _, need := range []string{"HOL02-S3-Endpoint", "HOL02-Research-RTA", "HOL02-Research-SG-egress-all", "HOL02-Jupyter-Role", "HOL02-Jupyter-Notebooks", "HOL02-Jupyter-Profile"} {
		assert.Contains(t, deps, "::"+need, "Jupyter must depend on %s, or its last push may find it gone", need)
	}
}

// TestJupyterDoesNotWaitForEgress: its installs retry until egress is up, so
// the longest chain of creations is the VPN's or the egress's, not both.
func TestJupyterDoesNotWaitForEgress(t *testing.T) {
	for _, mode := range egressModes {
		run := deploy(t, map[string]string{"researchEgress": mode})
		deps := strings.Join(one(t, run, typeInstance, "HOL02-Jupyter").Options.GetDependencies(), " ")
		for _, egress := range []string{"::HOL02-NAT", "::HOL02-Research-default-route"} {
			assert.NotContains(t, deps, egress, "%s mode: Jupyter waits for %s", mode, egress)
		}
	}
}

func TestBucketKeepsNotebooksSafe(t *testing.T) {
	run := deploy(t, nil)
	b := one(t, run, typeBucket, "notebooks")
	assert.False(t, propBool(b.Inputs, "forceDestroy"), "by default `pulumi destroy` must not delete notebooks")
	assert.Equal(t, "Enabled", propString(object(run.Mocks.ofType("aws:s3/bucketVersioningV2:BucketVersioningV2")[0].Inputs, "versioningConfiguration"), "status"))
	sse := run.Mocks.ofType("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
	require.Len(t, sse, 1, "server-side encryption must be declared")
	rule := sse[0].Inputs["rules"].ArrayValue()[0].ObjectValue()
	assert.Equal(t, "AES256", propString(object(rule, "applyServerSideEncryptionByDefault"), "sseAlgorithm"))
	pab := run.Mocks.ofType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
	require.Len(t, pab, 1)
	for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		assert.True(t, propBool(pab[0].Inputs, k), "public access block %s must be on", k)
	}
	policy := propString(run.Mocks.ofType("aws:s3/bucketPolicy:BucketPolicy")[0].Inputs, "policy")
	assert.Contains(t, policy, `"aws:SecureTransport":"false"`, "the bucket must refuse plain HTTP")
	assert.Contains(t, policy, `"Effect":"Deny"`)

	run = deploy(t, map[string]string{"forceDestroyBucket": "true", "bucketName": "my-lab-notebooks"})
	b = one(t, run, typeBucket, "notebooks")
	assert.True(t, propBool(b.Inputs, "forceDestroy"))
	assert.Equal(t, "my-lab-notebooks", propString(b.Inputs, "bucket"))
	assert.Equal(t, "s3://my-lab-notebooks/hol02/", run.Outputs["notebooksUri"])
}

type policyDoc struct {
	Statement []struct {
		Effect    string
		Action    []string
		Resource  []string
		Condition map[string]map[string][]string
	}
}

func TestIAMLeastPrivilege(t *testing.T) {
	bucketArn := "arn:aws:s3:::notebooks-1a2b3c4"
	// grants reads a role's inline policy as action -> resources, and the
	// prefixes it may list.
	grants := func(t *testing.T, run *mockRun, role string) (map[string][]string, []string) {
		var doc policyDoc
		found := false
		for _, p := range run.Mocks.ofType("aws:iam/rolePolicy:RolePolicy") {
			if nameOf(run, propString(p.Inputs, "role")) == role {
				require.NoError(t, json.Unmarshal([]byte(propString(p.Inputs, "policy")), &doc))
				found = true
			}
		}
		require.True(t, found, "no policy for %s", role)
		g, listed := map[string][]string{}, []string(nil)
		for _, s := range doc.Statement {
			require.Equal(t, "Allow", s.Effect)
			for _, a := range s.Action {
				assert.NotContains(t, a, "*", "role %s has a wildcard action %s", role, a)
				g[a] = append(g[a], s.Resource...)
				if a == "s3:ListBucket" {
					listed = s.Condition["StringLike"]["s3:prefix"]
				}
			}
		}
		return g, listed
	}

	run := deploy(t, map[string]string{"notebookPrefix": "team/notebooks"})
	require.Len(t, run.Mocks.ofType("aws:iam/rolePolicy:RolePolicy"), 3, "one role per server: Jupyter, Voila and the VPN")
	g, _ := grants(t, run, "HOL02-VPN-Role")
	assert.Equal(t, map[string][]string{"ssm:GetParameter": {"arn:aws:ssm:us-east-1:123456789012:parameter/vpn-admin-password-1a2b3c4",
		"arn:aws:ssm:us-east-1:123456789012:parameter/vpn-members-1a2b3c4"}}, g,
		"the VPN may read its own password and team parameters and nothing else")
	prefixArn := bucketArn + "/team/notebooks/*"
	publishedArn := bucketArn + "/team/notebooks/published/*"
	g, listed := grants(t, run, "HOL02-Jupyter-Role")
	assert.Equal(t, map[string][]string{
		"s3:ListBucket": {bucketArn}, "s3:GetObject": {prefixArn}, "s3:PutObject": {prefixArn}, "s3:DeleteObject": {publishedArn},
	}, g, "Jupyter reads and writes the prefix, and deletes only in the publish folder (unpublishing)")
	assert.Equal(t, []string{"team/notebooks/", "team/notebooks/*"}, listed, "Jupyter may list only the notebook prefix")
	g, listed = grants(t, run, "HOL02-Voila-Role")
	assert.Equal(t, map[string][]string{"s3:ListBucket": {bucketArn}, "s3:GetObject": {publishedArn, bucketArn + "/research-lab/lab-acme"}}, g,
		"Voila only reads, and only what is published and its certificate client")
	assert.Equal(t, []string{"team/notebooks/published/", "team/notebooks/published/*"}, listed, "Voila may list only the publish folder")

	// Publishing everything, as the manual does: nothing is ever deleted.
	all := deploy(t, map[string]string{"publishFolder": ""})
	g, _ = grants(t, all, "HOL02-Jupyter-Role")
	assert.NotContains(t, g, "s3:DeleteObject", "with publishFolder empty the push never deletes, so Jupyter may not")
	g, _ = grants(t, all, "HOL02-Voila-Role")
	assert.Equal(t, []string{bucketArn + "/hol02/*", bucketArn + "/research-lab/lab-acme"}, g["s3:GetObject"], "with publishFolder empty Voila reads the whole prefix")

	profile := func(name string) string {
		return propString(one(t, run, typeInstance, name).Inputs, "iamInstanceProfile")
	}
	assert.Equal(t, "HOL02-Jupyter-Profile-1a2b3c4", profile("HOL02-Jupyter"))
	assert.Equal(t, "HOL02-Voila-Profile-1a2b3c4", profile("HOL02-VoilaServer"))
	assert.Equal(t, "HOL02-VPN-Profile-1a2b3c4", profile("HOL02-VPN"), "the VPN reads its password parameter with its own profile")
	for _, r := range run.Mocks.ofType("aws:iam/role:Role") {
		assert.Contains(t, propString(r.Inputs, "assumeRolePolicy"), `"Service":"ec2.amazonaws.com"`)
	}
}

func TestExistingInstanceProfileDeclaresNoIAM(t *testing.T) {
	run := deploy(t, map[string]string{"instanceProfile": "LabInstanceProfile", "keyName": "vockey", "sshPublicKey": "-"})
	for _, r := range run.Mocks.all() {
		assert.False(t, strings.HasPrefix(r.Type, "aws:iam/"), "AWS Academy cannot create IAM resources, yet %s %s was declared", r.Type, r.Name)
	}
	for _, in := range run.Mocks.ofType(typeInstance) {
		if in.Name == "HOL02-NAT" {
			assert.NotContains(t, in.Inputs, resource.PropertyKey("iamInstanceProfile"), "the NAT instance needs no AWS access")
			continue
		}
		assert.Equal(t, "LabInstanceProfile", propString(in.Inputs, "iamInstanceProfile"), "%s must use the given profile", in.Name)
	}
}

func TestKeyPairModes(t *testing.T) {
	run := deploy(t, nil)
	kp := one(t, run, typeKeyPair, "HOL02-KeyPair")
	assert.Equal(t, testPublicKey, propString(kp.Inputs, "publicKey"))
	for _, in := range run.Mocks.ofType(typeInstance) {
		if in.Name != "HOL02-NAT" { // no key: TestNATInstanceIsAHardenedRouter
			assert.Equal(t, "HOL02-KeyPair-1a2b3c4", propString(in.Inputs, "keyName"), "%s must use the imported key", in.Name)
		}
	}

	run = deploy(t, map[string]string{"keyName": "vockey", "sshPublicKey": "-"})
	assert.Empty(t, run.Mocks.ofType(typeKeyPair), "an existing key pair is used as is")
	for _, in := range run.Mocks.ofType(typeInstance) {
		if in.Name != "HOL02-NAT" {
			assert.Equal(t, "vockey", propString(in.Inputs, "keyName"), "%s must use the existing key", in.Name)
		}
	}
}

func TestEveryTaggableResourceIsTagged(t *testing.T) {
	run := deploy(t, map[string]string{"namePrefix": "Lab7", "monthlyBudgetUsd": "40", "budgetEmail": "t@example.org"})
	require.Len(t, run.Mocks.ofType(typeBudget), 1)
	untaggable := map[string]bool{
		typeRTA: true, typeEIPAssoc: true, typeRoute: true, typeState: true, "aws:iam/rolePolicy:RolePolicy": true,
		"aws:s3/bucketVersioningV2:BucketVersioningV2": true, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": true,
		"aws:s3/bucketPolicy:BucketPolicy": true, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": true,
	}
	for _, r := range run.Mocks.all() {
		if untaggable[r.Type] {
			continue
		}
		tags := object(r.Inputs, "tags")
		assert.True(t, strings.HasPrefix(propString(tags, "Name"), "Lab7-"), "%s %s Name tag %q lacks the prefix", r.Type, r.Name, propString(tags, "Name"))
		assert.Equal(t, "research-lab", propString(tags, "project"), "%s %s project tag", r.Type, r.Name)
		assert.Equal(t, "dev", propString(tags, "stack"), "%s %s stack tag", r.Type, r.Name)
		assert.Equal(t, "organization/research-lab/dev", propString(tags, "lab"), "%s %s lab tag (what the budget counts)", r.Type, r.Name)
	}
}

// designOutputs are the stack outputs of the README's table for a single-user
// OpenVPN lab, plus the cost.
var designOutputs = []string{"vpnPublicIp", "vpnAdminUrl", "vpnClientUrl", "voilaUrl", "voilaPublicIp", "jupyterUrl", "jupyterPrivateIp",
	"voilaPrivateIp", "bucketName", "notebooksUri", "sshVpn", "sshJupyter", "sshVoila", "vpcId", "natPublicIp", "estimatedMonthlyCostUsd"}

// TestEveryPublicAddressIsAnOutput: check probes every address the plan's
// model calls public; each must be an output, and the right one.
func TestEveryPublicAddressIsAnOutput(t *testing.T) {
	for _, mode := range egressModes {
		run := deploy(t, map[string]string{"researchEgress": mode})
		want := map[string]string{}
		for _, in := range run.Mocks.ofType(typeInstance) {
			want[in.Name] = propString(in.State, "publicIp")
		}
		for _, a := range run.Mocks.ofType(typeEIPAssoc) {
			in, _ := run.Mocks.byID(propString(a.Inputs, "instanceId"))
			eip := run.Mocks.ofType(typeEIP)
			for _, e := range eip {
				if propString(e.State, "allocationId") == propString(a.Inputs, "allocationId") {
					want[in.Name] = propString(e.State, "publicIp")
				}
			}
		}
		var public []string
		for _, h := range computeReachability(run).Hosts {
			if !h.PublicIP {
				continue
			}
			public = append(public, h.Role)
			key := publicAddressOutputs[h.Role]
			require.NotEmpty(t, key, "%s mode: no output is named for %s's public address", mode, h.Role)
			assert.Equal(t, want[logicalName(h.Role)], run.Outputs[key], "%s mode: output %s must be %s's public address", mode, key, h.Role)
		}
		if mode == "nat-gateway" {
			assert.Equal(t, propString(one(t, run, typeNAT, "HOL02-NAT").State, "publicIp"), run.Outputs["natPublicIp"], "the NAT gateway's address is public too")
		}
		t.Logf("%s mode: public servers %v", mode, public)
	}
}

func TestOutputsArePresentAndHoldNoSecret(t *testing.T) {
	run := deploy(t, nil)
	var got []string
	for k := range run.Outputs {
		got = append(got, k)
	}
	assert.ElementsMatch(t, designOutputs, got)
	ip := run.Outputs["vpnPublicIp"].(string)
	jupyterIP := run.Outputs["jupyterPrivateIp"].(string)
	assert.Regexp(t, `^10\.0\.3\.\d+$`, jupyterIP, "Jupyter's address lies in the Research subnet")
	assert.Regexp(t, `^10\.0\.2\.\d+$`, run.Outputs["voilaPrivateIp"])
	assert.Equal(t, "https://"+ip+":943/admin", run.Outputs["vpnAdminUrl"])
	assert.Equal(t, "https://"+ip+":943/", run.Outputs["vpnClientUrl"])
	assert.Equal(t, "http://"+jupyterIP+":8888", run.Outputs["jupyterUrl"])
	assert.Equal(t, "ssh -J ubuntu@"+ip+" ec2-user@"+jupyterIP, run.Outputs["sshJupyter"])
	assert.Equal(t, "ssh ubuntu@"+ip, run.Outputs["sshVpn"])
	assert.Regexp(t, `^https://203\.0\.113\.\d+/$`, run.Outputs["voilaUrl"])
	for k, v := range run.Outputs {
		s := fmt.Sprint(v)
		assert.NotContains(t, s, testVPNPassword, "output %s holds the VPN password", k)
		assert.NotContains(t, s, testJupyterPass, "output %s holds the Jupyter password", k)
		assert.NotContains(t, s, "argon2", "output %s holds the password hash", k)
		assert.False(t, run.Secret[k], "output %s is needlessly secret", k)
	}
}

func TestUserDataWithSecretsIsSecret(t *testing.T) {
	run := deploy(t, nil)
	for _, in := range run.Mocks.ofType(typeInstance) {
		plain := userDataOf(t, in)
		for _, secret := range []string{testJupyterPass, testVPNPassword, base64.StdEncoding.EncodeToString([]byte(testVPNPassword))} {
			assert.NotContains(t, plain, secret, "%s userdata holds a password", in.Name)
		}
	}
	assert.True(t, one(t, run, typeInstance, "HOL02-Jupyter").Inputs["userDataBase64"].IsSecret(), "Jupyter's userdata holds the password hash and must be a Pulumi secret")
	assert.Contains(t, userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter")), "hashed_password = \"argon2:$argon2id$")
}

func TestUserDataIsByteIdenticalFromRunToRun(t *testing.T) {
	userdata := func(run *mockRun) map[string]string {
		m := map[string]string{}
		for _, in := range run.Mocks.ofType(typeInstance) {
			m[in.Name] = userDataOf(t, in)
		}
		return m
	}
	first, second := userdata(deploy(t, nil)), userdata(deploy(t, nil))
	assert.Equal(t, first, second, "the same configuration must render the same userdata, or every `pulumi up` replaces the servers")
	changed := userdata(deploy(t, map[string]string{"jupyterPassword": "another-password"}))
	assert.NotEqual(t, first["HOL02-Jupyter"], changed["HOL02-Jupyter"], "a new Jupyter password must reach the server")
	assert.Equal(t, first["HOL02-VoilaServer"], changed["HOL02-VoilaServer"], "Voila does not depend on the Jupyter password")
}

// varied is n characters of the alphabet in an order that gzip cannot
// shorten much, for the longest values a key accepts.
func varied(n int, alphabet string) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return string(b)
}

func TestUserDataFitsEC2Limit(t *testing.T) {
	// The longest values the configuration accepts, varied so that the
	// compression does not flatter them.
	lower := "abcdefghijklmnopqrstuvwxyz0123456789"
	longest := map[string]string{
		"bucketName":       "b" + varied(61, lower) + "b",
		"notebookPrefix":   "p" + varied(199, lower),
		"namePrefix":       "L" + varied(23, lower),
		"vpnAdminPassword": varied(256, lower),
		"jupyterPassword":  varied(256, lower),
		"syncInterval":     "86400s",
		"voilaDomain":      "d" + varied(61, lower) + ".d" + varied(61, lower) + ".d" + varied(61, lower) + ".d" + varied(57, lower) + ".edu",
	}
	run, err := runUnderMocks("a-rather-long-stack-name-for-a-course", stackConfig(longest), secretKeys)
	require.NoError(t, err)
	// A team's servers (JupyterHub, with the idle stop's units), the same values.
	longest["jupyterIdleStopMinutes"] = "10080"
	cfg, secrets := teamConfig(t, "wireguard", []string{"alice"}, longest)
	team, err := runUnderMocks("a-rather-long-stack-name-for-a-course", cfg, secrets)
	require.NoError(t, err)
	for lab, run := range map[string]*mockRun{"single": run, "team": team} {
		for _, in := range run.Mocks.ofType(typeInstance) {
			_, size := userDataAndSize(t, in)
			assert.Less(t, size, userDataLimit, "%s (%s lab) userdata is %d bytes; EC2 accepts at most %d", in.Name, lab, size, userDataLimit)
			t.Logf("%s (%s lab) userdata: %d bytes compressed, %d as cloud-init reads it", in.Name, lab, size, len(userDataOf(t, in)))
		}
	}
}

// TestUserDataIsGzipOfTheCloudConfig: every instance's userdata is the
// cloud-config, compressed, and the same bytes for the same configuration.
func TestUserDataIsGzipOfTheCloudConfig(t *testing.T) {
	first, second := deploy(t, nil), deploy(t, nil)
	for _, in := range first.Mocks.ofType(typeInstance) {
		assert.True(t, strings.HasPrefix(userDataOf(t, in), "#cloud-config\n"), "%s userdata must decompress to a cloud-config", in.Name)
		assert.NotContains(t, in.Inputs, resource.PropertyKey("userData"), "%s must send its userdata compressed only", in.Name)
		assert.Equal(t, propString(in.Inputs, "userDataBase64"), propString(one(t, second, typeInstance, in.Name).Inputs, "userDataBase64"),
			"%s: the same configuration must compress to the same bytes, or every `pulumi up` replaces it", in.Name)
	}
}

// TestOneErrorPerMistake: a misspelt key is one error, read as the key it
// was meant for, so the rules its value would have met add nothing; and a
// private key pasted as the public one is never echoed.
func TestOneErrorPerMistake(t *testing.T) {
	wireguard, wgSecrets := teamConfig(t, string(vpnWireGuard), []string{"alice", "bob"}, nil)
	wireguard["research-lab:vpnn"] = wireguard["research-lab:vpn"]
	delete(wireguard, "research-lab:vpn")
	cases := []struct {
		name    string
		config  map[string]string
		secrets []string
		want    string
	}{
		{"a misspelt vpn", wireguard, wgSecrets, "research-lab:vpnn: unknown configuration key: did you mean research-lab:vpn?"},
		{"a misspelt key with no default", stackConfig(map[string]string{"sshPublicKey": "-", "sshPublickey": testPublicKey}), secretKeys,
			"research-lab:sshPublickey: unknown configuration key: did you mean research-lab:sshPublicKey?"},
		{"a key of the project's in the provider's namespace", stackConfig(map[string]string{"sshPublicKey": "-", "aws:sshPublicKey": testPublicKey}), secretKeys,
			"aws:sshPublicKey: not read: did you mean research-lab:sshPublicKey?"},
		{"a private key", stackConfig(map[string]string{"sshPublicKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----"}), secretKeys,
			"research-lab:sshPublicKey = \"-----BEGIN ... PRIVATE KEY-----\": this is a private key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runUnderMocks("dev", tc.config, tc.secrets)
			var bad *configError
			require.ErrorAs(t, err, &bad, "the mistake must be refused")
			assert.Len(t, bad.Errs, 1, "one mistake, one error; got:\n%v", err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "b3BlbnNzaC1rZXktdjE", "a private key must never be echoed")
		})
	}
}

// TestSyncIntervalTakesWhatPeopleWrite: 5m, 300s and "2 hours" are accepted
// and written as the systemd time span the timers use.
func TestSyncIntervalTakesWhatPeopleWrite(t *testing.T) {
	for written, span := range map[string]string{"5m": "5min", "300s": "300s", "2 hours": "2h", "5min": "5min", "90 sec": "90s"} {
		cfg := stackConfig(map[string]string{"syncInterval": written})
		c, err := parseConfig(func(k string) (string, bool) { v, ok := cfg[k]; return v, ok },
			slices.Collect(maps.Keys(cfg)), func(k string) bool { return slices.Contains(secretKeys, k) }, "us-east-1", "dev")
		require.NoError(t, err, "syncInterval %q must be accepted", written)
		assert.Equal(t, span, c.SyncInterval, "syncInterval %q", written)
	}
}

func TestBadConfigurationIsRejectedBeforeAnyResource(t *testing.T) {
	cases := []struct {
		name    string
		changes map[string]string
		key     string
		detail  string
	}{
		{"cidr syntax", map[string]string{"vpcCidr": "10.0.0.0/33"}, "vpcCidr", "not an IPv4 CIDR"},
		{"cidr host bits", map[string]string{"dmzCidr": "10.0.1.5/24"}, "dmzCidr", "host bits"},
		{"vpc too large", map[string]string{"vpcCidr": "10.0.0.0/8"}, "vpcCidr", "/16 to /28"},
		{"subnet too small", map[string]string{"researchCidr": "10.0.3.0/29"}, "researchCidr", "/16 to /28"},
		{"subnet outside vpc", map[string]string{"productionCidr": "10.1.2.0/24"}, "productionCidr", "inside vpcCidr"},
		{"subnets overlap", map[string]string{"researchCidr": "10.0.1.0/25"}, "researchCidr", "overlaps"},
		{"unknown egress", map[string]string{"researchEgress": "nat"}, "researchEgress", "nat-instance, nat-gateway, internet-gateway and none"},
		{"lab state", map[string]string{"labState": "paused"}, "labState", "running and stopped"},
		{"idle stop negative", map[string]string{"jupyterIdleStopMinutes": "-5"}, "jupyterIdleStopMinutes", "from 0 (never) to 10080"},
		{"idle stop fractional", map[string]string{"jupyterIdleStopMinutes": "1.5"}, "jupyterIdleStopMinutes", "whole number"},
		{"idle stop over a week", map[string]string{"jupyterIdleStopMinutes": "10081"}, "jupyterIdleStopMinutes", "a week"},
		{"budget zero", map[string]string{"monthlyBudgetUsd": "0", "budgetEmail": "a@example.org"}, "monthlyBudgetUsd", "greater than 0"},
		{"budget negative", map[string]string{"monthlyBudgetUsd": "-10", "budgetEmail": "a@example.org"}, "monthlyBudgetUsd", "greater than 0"},
		{"budget not a number", map[string]string{"monthlyBudgetUsd": "fifty", "budgetEmail": "a@example.org"}, "monthlyBudgetUsd", "US dollars"},
		{"budget email invalid", map[string]string{"monthlyBudgetUsd": "50", "budgetEmail": "teacher at school"}, "budgetEmail", "not an email address"},
		{"budget email with name", map[string]string{"monthlyBudgetUsd": "50", "budgetEmail": "T <t@example.org>"}, "budgetEmail", "not an email address"},
		{"budget email alone", map[string]string{"budgetEmail": "a@example.org"}, "budgetEmail", "set monthlyBudgetUsd too"},
		{"budget without email", map[string]string{"monthlyBudgetUsd": "50"}, "monthlyBudgetUsd", "set budgetEmail too"},
		{"missing vpn password", map[string]string{"vpnAdminPassword": "-"}, "vpnAdminPassword", "is missing: set it with `pulumi config set --secret vpnAdminPassword`"},
		{"missing jupyter password", map[string]string{"jupyterPassword": "-"}, "jupyterPassword", "is missing: set it with `pulumi config set --secret jupyterPassword`"},
		{"blank jupyter password", map[string]string{"jupyterPassword": "  "}, "jupyterPassword", "is blank"},
		{"neither key", map[string]string{"sshPublicKey": "-"}, "sshPublicKey", "exactly one"},
		{"both keys", map[string]string{"keyName": "vockey"}, "keyName", "not both"},
		{"not a public key", map[string]string{"sshPublicKey": "ssh-ed25519 not-base64!"}, "sshPublicKey", "base64"},
		{"private key pasted", map[string]string{"sshPublicKey": "-----BEGIN OPENSSH PRIVATE KEY----- abc"}, "sshPublicKey", "this is a private key, which never leaves your machine"},
		{"key type mismatch", map[string]string{"sshPublicKey": "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB"}, "sshPublicKey", "does not hold"},
		{"bad admin cidr", map[string]string{"adminCidrs": `["1.2.3.4"]`}, "adminCidrs", "not an IPv4 CIDR"},
		{"admin cidrs not a list", map[string]string{"adminCidrs": "1.2.3.4/32"}, "adminCidrs", "list"},
		{"zone of another region", map[string]string{"availabilityZone": "eu-west-1a"}, "availabilityZone", "us-east-1"},
		{"not a zone", map[string]string{"availabilityZone": "use1-az1"}, "availabilityZone", "availability zone"},
		{"bucket uppercase", map[string]string{"bucketName": "My_Bucket"}, "bucketName", "lowercase"},
		{"bucket like ip", map[string]string{"bucketName": "192.168.5.4"}, "bucketName", "IP address"},
		{"bucket reserved prefix", map[string]string{"bucketName": "xn--lab"}, "bucketName", "xn--"},
		{"bucket double dot", map[string]string{"bucketName": "lab..notes"}, "bucketName", "adjacent"},
		{"sync interval syntax", map[string]string{"syncInterval": "five minutes"}, "syncInterval", "for example 5min"},
		{"sync interval too short", map[string]string{"syncInterval": "5s"}, "syncInterval", "between 30s and 24h"},
		{"force destroy", map[string]string{"forceDestroyBucket": "yes please"}, "forceDestroyBucket", "true or false"},
		{"instance type", map[string]string{"jupyterInstanceType": "large"}, "jupyterInstanceType", "instance type"},
		{"prefix of the lab's files", map[string]string{"notebookPrefix": "research-lab"}, "notebookPrefix", "research-lab/ holds the lab's own files"},
		{"prefix under the lab's files", map[string]string{"notebookPrefix": "research-lab/notes"}, "notebookPrefix", "research-lab/ holds the lab's own files"},
		{"prefix with slash", map[string]string{"notebookPrefix": "/hol02/"}, "notebookPrefix", "slash"},
		{"name prefix", map[string]string{"namePrefix": "HOL 02"}, "namePrefix", "letters"},
		{"profile name", map[string]string{"instanceProfile": "Lab Profile"}, "instanceProfile", "instance profile"},
		{"misspelt key", map[string]string{"namePrefx": "HOL03"}, "namePrefx", "unknown configuration key: did you mean research-lab:namePrefix?"},
		{"the example key", map[string]string{"sshPublicKey": "ssh-ed25519 " + exampleSSHKeyBlob + " replace-with-yours"}, "sshPublicKey",
			"this is the example key of the shipped stack files, which nobody holds: replace it with your public key (~/.ssh/id_ed25519.pub)"},
		{"instance size misspelt", map[string]string{"jupyterInstanceType": "t4g.mediun"}, "jupyterInstanceType", `EC2 has no size "mediun": did you mean t4g.medium?`},
		{"a provider key misspelt", map[string]string{"aws:regoin": "us-east-1"}, "aws:regoin", "not a key of the AWS provider: did you mean aws:region?"},
		{"the region in the project's namespace", map[string]string{"research-lab:region": "eu-west-1"}, "research-lab:region", "not read: did you mean aws:region?"},
		{"unknown key", map[string]string{"favouriteColour": "blue"}, "favouriteColour", "unknown configuration key (docs/reference.md, Configuration, lists them)"},
		{"publish folder with slash", map[string]string{"publishFolder": "pub/lished"}, "publishFolder", "one folder name"},
		{"publish folder dot-dot", map[string]string{"publishFolder": ".."}, "publishFolder", "one folder name"},
		{"voila domain is an IP", map[string]string{"voilaDomain": "203.0.113.7"}, "voilaDomain", "not an IP address"},
		{"voila domain not a name", map[string]string{"voilaDomain": "lab_site.example.org"}, "voilaDomain", "a DNS name"},
		{"voila domain one label", map[string]string{"voilaDomain": "localhost"}, "voilaDomain", "a DNS name"},
		{"region with a command", map[string]string{"aws:region": "us-east-1;touch /tmp/x"}, "aws:region", "not an AWS region; the AWS provider knows af-south-1, "},
		{"region in China", map[string]string{"aws:region": "cn-north-1"}, "aws:region", "a region of the aws-cn partition; the lab runs in the aws partition only"},
		{"region in GovCloud", map[string]string{"aws:region": "us-gov-west-1"}, "aws:region", "a region of the aws-us-gov partition; the lab runs in the aws partition only"},
		{"region that does not exist", map[string]string{"aws:region": "us-east-3"}, "aws:region", "not an AWS region: did you mean us-east-1? (set it with `pulumi config set aws:region us-east-1`)"},
		{"key in a misspelt namespace", map[string]string{"research_lab:vpcCidr": "10.9.0.0/16"}, "research_lab:vpcCidr", "not read: did you mean research-lab:vpcCidr?"},
		{"key in the provider's namespace", map[string]string{"aws:namePrefix": "LAB"}, "aws:namePrefix", "not read: did you mean research-lab:namePrefix?"},
		{"short vpn password", map[string]string{"vpnAdminPassword": "Sh0rt-pass"}, "vpnAdminPassword", "at least 12"},
		{"short jupyter password", map[string]string{"jupyterPassword": "elevenchars"}, "jupyterPassword", "11 characters long: a password needs at least 12"},
		{"budget on AWS Academy", map[string]string{"instanceProfile": "LabInstanceProfile", "keyName": "vockey", "sshPublicKey": "-", "monthlyBudgetUsd": "40", "budgetEmail": "t@example.edu"},
			"monthlyBudgetUsd", "this is an AWS Academy stack (instanceProfile LabInstanceProfile), and Learner Lab has no AWS Budgets"},
		{"vpn too small for Access Server", map[string]string{"vpnInstanceType": "t4g.nano"}, "vpnInstanceType", "has 512 MiB of memory; OpenVPN Access Server needs at least 1024 MiB (for example t4g.micro)"},
		{"unknown vpn", map[string]string{"vpn": "ipsec"}, "vpn", "allowed values are openvpn-as and wireguard"},
		{"wireguard key not a key", map[string]string{"vpn": "wireguard", "wireguardPrivateKey": "not-a-key"}, "wireguardPrivateKey", "not a WireGuard key"},
		{"wireguard without members", map[string]string{"vpn": "wireguard", "wireguardPrivateKey": planPlaceholderKey, "vpnAdminPassword": "-"}, "vpn",
			"WireGuard admits only the members' keys, and this lab has no members"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, err := runUnderMocks("dev", stackConfig(tc.changes), secretKeys)
			require.Error(t, err, "configuration %v must be rejected", tc.changes)
			msg := err.Error()
			if strings.Contains(tc.key, ":") {
				assert.Contains(t, msg, tc.key, "the error must name the key")
			} else {
				assert.Contains(t, msg, "research-lab:"+tc.key, "the error must name the key")
			}
			assert.Contains(t, msg, tc.detail, "the error must say what is allowed")
			assert.Empty(t, run.Mocks.all(), "a bad configuration must declare nothing")
			for k, v := range tc.changes {
				if strings.Contains(k, "Password") && strings.TrimSpace(v) != "" && v != "-" {
					assert.NotContains(t, msg, v, "errors must not echo passwords")
				}
			}
		})
	}
}

func TestEveryBadValueIsReportedAtOnce(t *testing.T) {
	_, err := runUnderMocks("dev", stackConfig(map[string]string{
		"vpcCidr": "nope", "researchEgress": "maybe", "syncInterval": "soon", "jupyterPassword": "-",
	}), secretKeys)
	require.Error(t, err)
	for _, key := range []string{"vpcCidr", "researchEgress", "syncInterval", "jupyterPassword"} {
		assert.Contains(t, err.Error(), "research-lab:"+key)
	}
}

// TestSecretsInPlainTextAreRefused: Pulumi.yaml cannot mark the secrets
// secret, so the program refuses one that `pulumi config set` stored in
// plain text, without echoing it.
func TestSecretsInPlainTextAreRefused(t *testing.T) {
	_, err := runUnderMocks("dev", stackConfig(nil), []string{"research-lab:vpnAdminPassword"})
	require.Error(t, err, "a Jupyter password in plain text must be refused")
	assert.Contains(t, err.Error(), "research-lab:jupyterPassword is in plain text: set it with `pulumi config set --secret jupyterPassword`")
	assert.NotContains(t, err.Error(), testJupyterPass, "the error must not echo the password")
}

// TestProgramNeedsTheStackKeys: without the list of the stack's keys the
// program could not name a misspelt one, so it refuses to run.
func TestProgramNeedsTheStackKeys(t *testing.T) {
	mocks := newRecordingMocks("us-east-1")
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := createInfrastructure(ctx)
		return err
	}, pulumi.WithMocks(projectName, "dev", mocks), func(info *pulumi.RunInfo) { info.Config = stackConfig(nil) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "attach them with withStackKeys")
	assert.Empty(t, mocks.all(), "nothing may be declared")
}

func TestConfigKeysAgreeEverywhere(t *testing.T) {
	code := map[string]configKey{}
	for _, k := range configKeys {
		code[k.Name] = k
	}

	// Pulumi.yaml: same keys, types, defaults and secrecy.
	raw, err := os.ReadFile("Pulumi.yaml")
	require.NoError(t, err)
	var project struct {
		Name    string
		Runtime string
		Config  map[string]struct {
			Type        string
			Default     any
			Secret      bool
			Description string
		}
	}
	require.NoError(t, yaml.Unmarshal(raw, &project))
	assert.Equal(t, projectName, project.Name)
	assert.Equal(t, "go", project.Runtime)
	assert.Equal(t, keysOf(code), keysOf(project.Config), "Pulumi.yaml's config keys differ from the code's")
	for name, p := range project.Config {
		k := code[name]
		assert.Equal(t, k.Type, p.Type, "Pulumi.yaml type of %s", name)
		assert.Equal(t, k.Description, p.Description, "Pulumi.yaml description of %s", name)
		// The CLI refuses a `secret: true` key whose value is a plain
		// default ("must be encrypted as it's secret"), and requires of
		// every stack a key without a default ("is missing configuration
		// value"): an optional secret is a plain typed key, and the program
		// checks its secrecy.
		assert.False(t, p.Secret, "Pulumi.yaml must not mark %s secret: the CLI would refuse every stack that does not set it", name)
		if k.Secret {
			// Optional for the CLI; the program says when a stack needs it.
			assert.Equal(t, "", p.Default, "secret %s must default to empty (Needed decides)", name)
			assert.NotNil(t, k.Needed, "secret %s must say when a stack needs it", name)
			continue
		}
		def := p.Default
		if k.Type == "array" || k.Type == "" {
			b, _ := json.Marshal(def)
			def = string(b)
		}
		assert.Equal(t, k.Default, fmt.Sprint(def), "Pulumi.yaml default of %s", name)
	}

	// The reference: one table row per key, with the code's default.
	section := markdownSection(doc(t, referenceDoc), "## Configuration")
	rows := regexp.MustCompile("(?m)^\\| `([a-zA-Z]+)` \\| ([^|]*) \\|").FindAllStringSubmatch(section, -1)
	documented := map[string]string{}
	for _, r := range rows {
		documented[r[1]] = strings.Trim(strings.TrimSpace(r[2]), "`")
	}
	assert.Equal(t, keysOf(code), keysOf(documented), "docs/reference.md's configuration table must list exactly the code's keys")
	for name, k := range code {
		def, ok := documented[name]
		if !assert.True(t, ok, "docs/reference.md's configuration table lacks %s", name) {
			continue
		}
		want := k.Default
		if want == "" {
			want = "—"
		}
		assert.Equal(t, want, def, "docs/reference.md default of %s", name)
	}

	// Pulumi.dev.yaml uses only known keys.
	raw, err = os.ReadFile("Pulumi.dev.yaml")
	require.NoError(t, err)
	var dev struct{ Config map[string]any }
	require.NoError(t, yaml.Unmarshal(raw, &dev))
	for k := range dev.Config {
		if name, ok := strings.CutPrefix(k, projectName+":"); ok {
			assert.Contains(t, code, name, "Pulumi.dev.yaml sets an unknown key %s", k)
			assert.False(t, code[name].Secret, "Pulumi.dev.yaml must not hold the secret %s", k)
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// markdownSection returns the text under a heading, up to the next heading of
// the same level or a higher one (outside code blocks).
func markdownSection(doc, heading string) string {
	_, after, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		return ""
	}
	level, fenced, end := strings.Index(heading, " "), false, 0
	for line := range strings.SplitAfterSeq(after, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if n := len(line) - len(strings.TrimLeft(line, "#")); !fenced && n > 0 && n <= level && strings.HasPrefix(line[n:], " ") {
			return strings.TrimSuffix(after[:end], "\n")
		}
		end += len(line)
	}
	return after
}

// TestUserDataCompressionIsPinned: the compressed bytes of a fixed text are
// those of the pinned compressor, whatever Go builds the program. If this
// fails after a dependency bump, every server's userdata changed: the next
// `pulumi up` replaces every server of every lab (say so in the release).
func TestUserDataCompressionIsPinned(t *testing.T) {
	var text strings.Builder
	for i := range 400 {
		fmt.Fprintf(&text, "line %d: research-lab compresses its cloud-config, %x\n", i, i*i*7919)
	}
	encoded, err := gzipBase64(text.String())
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(encoded)
	require.NoError(t, err)
	assert.Equal(t, "f7a5db1c6f5e1a71cf584a49c1f00ebbfe33ebdcfcb2c4403c93ea9222b0a8ac", fmt.Sprintf("%x", sha256.Sum256(raw)),
		"the userdata compressor's output changed: every server of every lab would be replaced")
}
