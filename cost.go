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
	PublicIPv4  int // Elastic IPs and auto-assigned public addresses
	S3Buckets   int
}

type billInstance struct {
	Role   string
	Type   string
	RootGB int
}

func billOfMaterials(c *labConfig) bill {
	b := bill{
		Instances: []billInstance{
			{"VPN", c.VPNInstanceType, vpnRootGB},
			{"VoilaServer", c.VoilaType, voilaRootGB},
			{"Jupyter", c.JupyterType, jupyterRootGB},
		},
		PublicIPv4: 2, // the VPN's Elastic IP and Voila's public address
		S3Buckets:  1,
	}
	switch c.ResearchEgress {
	case egressNAT:
		b.NATGateways, b.PublicIPv4 = 1, b.PublicIPv4+1
	case egressIGW:
		b.PublicIPv4++ // Jupyter's address for egress
	}
	return b
}

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

// estimateCost prices a bill at on-demand rates for a month of 730 hours.
func estimateCost(b bill, region string) *costEstimate {
	e := &costEstimate{Region: region}
	p, ok := prices.Regions[region]
	if !ok {
		e.Lines = append(e.Lines, costLine{Item: "everything", Missing: fmt.Sprintf("no prices for region %s (known: %s)", region, strings.Join(knownRegions(), ", "))})
		return e
	}
	h := prices.HoursPerMonth
	for _, in := range b.Instances {
		line := costLine{Item: fmt.Sprintf("EC2 %s (%s)", in.Type, in.Role), Quantity: fmt.Sprintf("%.0f h", h)}
		if rate, ok := p.InstanceHourly[in.Type]; ok {
			line.Monthly = rate * h
		} else {
			line.Missing = fmt.Sprintf("no price for instance type %s in %s", in.Type, region)
		}
		e.Lines = append(e.Lines, line)
	}
	if b.NATGateways > 0 {
		n := float64(b.NATGateways)
		e.Lines = append(e.Lines,
			costLine{Item: "NAT gateway", Quantity: fmt.Sprintf("%d x %.0f h", b.NATGateways, h), Monthly: n * p.NATGatewayHourly * h},
			costLine{Item: "NAT gateway data (assumed)", Quantity: fmt.Sprintf("%g GB", prices.Assumptions.NATDataGB), Monthly: prices.Assumptions.NATDataGB * p.NATGatewayPerGB})
	}
	e.Lines = append(e.Lines, costLine{Item: "Public IPv4 addresses", Quantity: fmt.Sprintf("%d x %.0f h", b.PublicIPv4, h), Monthly: float64(b.PublicIPv4) * p.PublicIPv4Hourly * h})
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
