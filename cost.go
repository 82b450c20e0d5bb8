package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// priceTableJSON is the price table, with its source and date.
//
//go:embed prices.json
var priceTableJSON []byte

type regionPrices struct {
	InstanceHourly       map[string]float64 `json:"instanceHourly"`
	NATGatewayHourly     float64            `json:"natGatewayHourly"`
	NATGatewayPerGB      float64            `json:"natGatewayPerGb"`
	PublicIPv4Hourly     float64            `json:"publicIpv4Hourly"`
	GP3PerGBMonth        float64            `json:"gp3PerGbMonth"`
	S3StandardPerGBMonth float64            `json:"s3StandardPerGbMonth"`
}

type priceTable struct {
	Source        string  `json:"source"`
	Date          string  `json:"date"`
	HoursPerMonth float64 `json:"hoursPerMonth"`
	Assumptions   struct {
		S3StorageGB float64 `json:"s3StorageGb"`
		NATDataGB   float64 `json:"natDataGb"`
	} `json:"assumptions"`
	Regions map[string]regionPrices `json:"regions"`
}

var prices = mustLoadPrices()

func mustLoadPrices() priceTable {
	var p priceTable
	if err := json.Unmarshal(priceTableJSON, &p); err != nil {
		panic(fmt.Sprintf("prices.json: %v", err))
	}
	return p
}

// bill is what a stack pays for, counted from its configuration with the same
// constants that declare the resources.
type bill struct {
	Instances   []billInstance
	NATGateways int
	ElasticIPs  int // billed every hour, attached to a running server or not
	S3Buckets   int
}

type billInstance struct {
	Role   string
	Type   string
	RootGB int
	// PublicIP is an address of the instance's own (not an Elastic IP),
	// billed only while the instance runs.
	PublicIP bool
	// AlwaysOn is the public site, which stays up however long the rest of
	// the lab runs a week.
	AlwaysOn bool
}

func billOfMaterials(c *labConfig) bill {
	b := bill{
		Instances: []billInstance{
			{Role: "VPN", Type: c.VPNInstanceType, RootGB: vpnRootGB},
			{Role: "VoilaServer", Type: c.VoilaType, RootGB: voilaRootGB, AlwaysOn: true},
			{Role: "Jupyter", Type: c.JupyterType, RootGB: c.jupyterDiskGB(), PublicIP: c.ResearchEgress == egressIGW},
		},
		ElasticIPs: 2, // the VPN's and Voila's
		S3Buckets:  1,
	}
	switch c.ResearchEgress {
	case egressNATInstance:
		b.Instances = append(b.Instances, billInstance{Role: "NAT", Type: natInstanceType, RootGB: natRootGB, PublicIP: true})
	case egressNATGateway:
		b.NATGateways, b.ElasticIPs = 1, b.ElasticIPs+1
	}
	return b
}

// partTime names the servers that hoursPerWeek runs part time: "VPN,
// Jupyter and NAT".
func (b bill) partTime() string {
	var roles []string
	for _, in := range b.Instances {
		switch {
		case in.AlwaysOn:
		case in.Role == "NAT":
			roles = append(roles, "the NAT instance")
		default:
			roles = append(roles, in.Role)
		}
	}
	if len(roles) == 1 {
		return roles[0]
	}
	return strings.Join(roles[:len(roles)-1], ", ") + " and " + roles[len(roles)-1]
}

// usage says how many hours a month each instance runs.
type usage func(billInstance) float64

// alwaysOn runs every instance every hour of the month.
func alwaysOn(billInstance) float64 { return prices.HoursPerMonth }

// allStopped is a lab with labState stopped: no instance hours at all.
func allStopped(billInstance) float64 { return 0 }

// hoursPerWeek runs the VPN, Jupyter and the NAT instance n hours a week and
// the public site all month.
func hoursPerWeek(n float64) usage {
	return func(in billInstance) float64 {
		if in.AlwaysOn {
			return prices.HoursPerMonth
		}
		return n * prices.HoursPerMonth / hoursInWeek
	}
}

const hoursInWeek = 168

type costLine struct {
	Item     string
	Quantity string
	Monthly  float64
	Missing  string // why no price is known; then Monthly is 0
}

type costEstimate struct {
	Region string
	Lines  []costLine
}

// estimateCost prices a bill at on-demand rates for a month of 730 hours, with
// each instance running as many of them as hours says.
func estimateCost(b bill, region string, hours usage) *costEstimate {
	e := &costEstimate{Region: region}
	p, ok := prices.Regions[region]
	if !ok {
		e.Lines = append(e.Lines, costLine{Item: "everything", Missing: fmt.Sprintf("the plan prices only %s (prices.json), not %s: see AWS's pricing pages for its prices", strings.Join(knownRegions(), " and "), region)})
		return e
	}
	h := prices.HoursPerMonth
	ownIPHours := 0.0
	for _, in := range b.Instances {
		run := hours(in)
		line := costLine{Item: fmt.Sprintf("EC2 %s (%s)", in.Type, in.Role), Quantity: fmt.Sprintf("%.0f h", run)}
		if rate, ok := p.InstanceHourly[in.Type]; ok {
			line.Monthly = rate * run
		} else {
			line.Missing = fmt.Sprintf("no price for instance type %s in %s", in.Type, region)
		}
		e.Lines = append(e.Lines, line)
		if in.PublicIP {
			ownIPHours += run
		}
	}
	if b.NATGateways > 0 {
		n := float64(b.NATGateways)
		e.Lines = append(e.Lines,
			costLine{Item: "NAT gateway (bills while the lab is stopped)", Quantity: fmt.Sprintf("%d x %.0f h", b.NATGateways, h), Monthly: n * p.NATGatewayHourly * h},
			costLine{Item: "NAT gateway data (assumed)", Quantity: fmt.Sprintf("%g GB", prices.Assumptions.NATDataGB), Monthly: prices.Assumptions.NATDataGB * p.NATGatewayPerGB})
	}
	e.Lines = append(e.Lines, costLine{Item: "Elastic IPs", Quantity: fmt.Sprintf("%d x %.0f h", b.ElasticIPs, h), Monthly: float64(b.ElasticIPs) * p.PublicIPv4Hourly * h})
	if ownIPHours > 0 {
		e.Lines = append(e.Lines, costLine{Item: "Public IPv4 of running instances", Quantity: fmt.Sprintf("%.0f h", ownIPHours), Monthly: ownIPHours * p.PublicIPv4Hourly})
	}
	gb := 0
	for _, in := range b.Instances {
		gb += in.RootGB
	}
	e.Lines = append(e.Lines, costLine{Item: "EBS gp3 root volumes", Quantity: fmt.Sprintf("%d GB", gb), Monthly: float64(gb) * p.GP3PerGBMonth})
	e.Lines = append(e.Lines, costLine{Item: "S3 Standard storage (assumed)", Quantity: fmt.Sprintf("%g GB", prices.Assumptions.S3StorageGB), Monthly: float64(b.S3Buckets) * prices.Assumptions.S3StorageGB * p.S3StandardPerGBMonth})
	return e
}

func knownRegions() []string {
	var r []string
	for k := range prices.Regions {
		r = append(r, k)
	}
	sort.Strings(r)
	return r
}

// Total is the monthly sum in dollars, rounded to the cent.
func (e *costEstimate) Total() float64 {
	sum := 0.0
	for _, l := range e.Lines {
		sum += l.Monthly
	}
	return math.Round(sum*100) / 100
}

func (e *costEstimate) Complete() bool { return e.Missing() == "" }

// Missing says which prices are unknown, or "" when every line has one.
func (e *costEstimate) Missing() string {
	var m []string
	for _, l := range e.Lines {
		if l.Missing != "" {
			m = append(m, l.Missing)
		}
	}
	return strings.Join(m, "; ")
}
