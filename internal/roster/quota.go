package roster

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Quota is an AWS service quota a class counts against: per account and
// region, adjustable through Service Quotas.
type Quota struct {
	Code    string // the Service Quotas code
	Service string // the Service Quotas service code
	Name    string
	Default int // AWS's default value
}

// The quotas a class of labs in one account and region uses up. Defaults:
// https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html
// (VPCs and internet gateways per Region, 5 each),
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html
// (5 Elastic IPs per Region), and the Service Quotas console's default for
// L-1216C47A (running On-Demand Standard instances, 5 vCPUs; accounts in
// use often have more, which --quota tells the preflight).
var (
	VPCs             = Quota{"L-F678F1CE", "vpc", "VPCs per Region", 5}
	ElasticIPs       = Quota{"L-0263D0A3", "ec2", "EC2-VPC Elastic IPs", 5}
	InternetGateways = Quota{"L-A4707A72", "vpc", "Internet gateways per Region", 5}
	StandardVCPUs    = Quota{"L-1216C47A", "ec2", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (vCPUs)", 5}
)

// Quotas are the quotas the preflight counts, in the order it reports them.
var Quotas = []Quota{VPCs, ElasticIPs, InternetGateways, StandardVCPUs}

// Usage is what labs use of each quota, by quota code.
type Usage map[string]int

// Add adds o to u.
func (u Usage) Add(o Usage) {
	for k, v := range o {
		u[k] += v
	}
}

// Shortfall is a quota the class needs more of than the account has.
type Shortfall struct {
	Region string
	Quota  Quota
	Need   int
	Have   int
	Source string // where Have comes from: AWS's default, or --quota
}

func (s Shortfall) String() string {
	return fmt.Sprintf("%s: %s (%s): the class needs %d, the quota is %d (%s); ask AWS for %d: "+
		"aws service-quotas request-service-quota-increase --region %s --service-code %s --quota-code %s --desired-value %d",
		s.Region, s.Quota.Name, s.Quota.Code, s.Need, s.Have, s.Source, s.Need, s.Region, s.Quota.Service, s.Quota.Code, s.Need)
}

// Preflight compares what the labs in the instructor's account need, by
// region, with the quotas: applied values by code where known, AWS's
// defaults otherwise. It returns every quota the class would exceed,
// regions in order.
func Preflight(need map[string]Usage, applied map[string]int) []Shortfall {
	regions := make([]string, 0, len(need))
	for r := range need {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	var out []Shortfall
	for _, r := range regions {
		for _, q := range Quotas {
			have, source := q.Default, "AWS's default"
			if v, ok := applied[q.Code]; ok {
				have, source = v, "as given with --quota"
			}
			if n := need[r][q.Code]; n > have {
				out = append(out, Shortfall{Region: r, Quota: q, Need: n, Have: have, Source: source})
			}
		}
	}
	return out
}

var sizeRe = regexp.MustCompile(`^([a-z][a-z0-9-]*)\.(nano|micro|small|medium|large|metal|([0-9]*)xlarge)$`)

// VCPUs is an EC2 instance type's vCPUs, from its size: every T type up to
// large has 2, other types up to medium 1 and large 2, an xlarge 4 and an Nxlarge
// 4N. ok is false for a type it cannot tell (metal, unknown names).
func VCPUs(instanceType string) (n int, ok bool) {
	m := sizeRe.FindStringSubmatch(instanceType)
	if m == nil {
		return 0, false
	}
	burstable := strings.HasPrefix(m[1], "t")
	switch size := m[2]; {
	case size == "metal":
		return 0, false
	case burstable && !strings.HasSuffix(size, "xlarge"):
		return 2, true
	case size == "medium" || size == "small" || size == "micro" || size == "nano":
		return 1, true
	case size == "large":
		return 2, true
	case m[3] == "":
		return 4, true
	default:
		x, err := strconv.Atoi(m[3])
		return 4 * x, err == nil
	}
}
