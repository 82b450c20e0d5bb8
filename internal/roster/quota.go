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
	// DefaultNoGuide: AWS's default says little of an account in use, so
	// a class beyond it, with the applied value unknown, is warned of
	// rather than refused.
	DefaultNoGuide bool
}

// The quotas a class of labs in one account and region uses up. Defaults:
// https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html
// (VPCs and internet gateways per Region, 5 each),
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html
// (5 Elastic IPs per Region), and the Service Quotas console's default for
// L-1216C47A (running On-Demand Standard instances, 5 vCPUs), which AWS
// raises for accounts as they are used: established accounts have far more.
var (
	VPCs             = Quota{"L-F678F1CE", "vpc", "VPCs per Region", 5, false}
	ElasticIPs       = Quota{"L-0263D0A3", "ec2", "EC2-VPC Elastic IPs", 5, false}
	InternetGateways = Quota{"L-A4707A72", "vpc", "Internet gateways per Region", 5, false}
	StandardVCPUs    = Quota{"L-1216C47A", "ec2", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (vCPUs)", 5, true}
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

// Known is a quota's applied value and where it comes from.
type Known struct {
	Value  int
	Source string // "Service Quotas", "as given with --quota"
}

// Shortfall is a quota the class needs more of than the account has, or,
// when Unknown, may have.
type Shortfall struct {
	Region string
	Quota  Quota
	Need   int
	Have   int
	Source string // where Have comes from: AWS's default, Service Quotas, --quota
	// Unknown: the applied value is unknown and AWS's default is no guide
	// (DefaultNoGuide): a warning, not a refusal.
	Unknown bool
}

func (s Shortfall) String() string {
	increase := fmt.Sprintf("aws service-quotas request-service-quota-increase --region %s --service-code %s --quota-code %s --desired-value %d",
		s.Region, s.Quota.Service, s.Quota.Code, s.Need)
	if s.Unknown {
		return fmt.Sprintf("%s: %s (%s): the class needs %d; the account's quota is unknown here (AWS's default is %d, accounts in use often have more): "+
			"check it with aws service-quotas get-service-quota --region %s --service-code %s --quota-code %s, and if it is less than %d: %s",
			s.Region, s.Quota.Name, s.Quota.Code, s.Need, s.Quota.Default, s.Region, s.Quota.Service, s.Quota.Code, s.Need, increase)
	}
	return fmt.Sprintf("%s: %s (%s): the class needs %d, the quota is %d (%s); ask AWS for %d: %s",
		s.Region, s.Quota.Name, s.Quota.Code, s.Need, s.Have, s.Source, s.Need, increase)
}

// Preflight compares what the labs in the instructor's account need, by
// region, with the quotas: the values known for that region by code,
// AWS's defaults otherwise. It returns the quotas the class would exceed
// (refuse) and those it may exceed (warn, Unknown), regions in order.
func Preflight(need map[string]Usage, known map[string]map[string]Known) (refuse, warn []Shortfall) {
	regions := make([]string, 0, len(need))
	for r := range need {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	for _, r := range regions {
		for _, q := range Quotas {
			have, ok := known[r][q.Code]
			if !ok {
				have = Known{q.Default, "AWS's default"}
			}
			n := need[r][q.Code]
			if n <= have.Value {
				continue
			}
			s := Shortfall{Region: r, Quota: q, Need: n, Have: have.Value, Source: have.Source, Unknown: !ok && q.DefaultNoGuide}
			if s.Unknown {
				warn = append(warn, s)
			} else {
				refuse = append(refuse, s)
			}
		}
	}
	return refuse, warn
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
