package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
)

// awsRegions are the regions the AWS provider knows: its SDK's Region enum
// (TestRegionsAreTheProviderSDKs keeps this list equal to it).
var awsRegions = []aws.Region{
	aws.RegionAFSouth1, aws.RegionAPEast1, aws.RegionAPNortheast1, aws.RegionAPNortheast2, aws.RegionAPNortheast3,
	aws.RegionAPSouth1, aws.RegionAPSouth2, aws.RegionAPSoutheast1, aws.RegionAPSoutheast2, aws.RegionAPSoutheast3,
	aws.RegionAPSoutheast4, aws.RegionAPSoutheast5, aws.RegionAPSoutheast7, aws.RegionCACentral, aws.RegionCAWest1,
	aws.RegionEUCentral1, aws.RegionEUCentral2, aws.RegionEUNorth1, aws.RegionEUSouth1, aws.RegionEUSouth2,
	aws.RegionEUWest1, aws.RegionEUWest2, aws.RegionEUWest3, aws.RegionILCentral1, aws.RegionMECentral1,
	aws.RegionMESouth1, aws.RegionMXCentral1, aws.RegionSAEast1, aws.RegionUSEast1, aws.RegionUSEast2, aws.RegionUSWest1,
	aws.RegionUSWest2, aws.RegionCNNorth1, aws.RegionCNNorthwest1, aws.RegionUSGovEast1, aws.RegionUSGovWest1,
	aws.RegionUSISOEast1, aws.RegionUSISOWest1, aws.RegionUSISOBEast1, aws.RegionEUISOEWest1,
}

// awsProviderKeys are the AWS provider's configuration keys (aws:<key>), as
// its SDK's config package reads them (TestAWSProviderKeysAreTheSDKs keeps
// this list equal to it): a near miss of one is a typo.
var awsProviderKeys = map[string]bool{
	"accessKey": true, "allowedAccountIds": true, "assumeRole": true, "assumeRoleWithWebIdentity": true,
	"customCaBundle": true, "defaultTags": true, "endpoints": true, "forbiddenAccountIds": true,
	"httpProxy": true, "httpsProxy": true, "ignoreTags": true, "insecure": true, "maxRetries": true,
	"noProxy": true, "profile": true, "region": true, "retryMode": true, "secretKey": true,
	"sharedConfigFiles": true, "sharedCredentialsFiles": true, "skipCredentialsValidation": true,
	"skipMetadataApiCheck": true, "skipRegionValidation": true, "skipRequestingAccountId": true,
	"stsRegion": true, "token": true, "tokenBucketRateLimiterCapacity": true,
	"useDualstackEndpoint": true, "useFipsEndpoint": true,
}

// otherPartitions are the region prefixes of AWS's partitions other than
// aws, with the partition's name: Canonical publishes its Ubuntu images from
// its account (canonicalOwner) in the aws partition only, and the lab's
// ARNs, endpoints and prices are the aws partition's.
var otherPartitions = []struct{ prefix, partition string }{
	{"cn-", "aws-cn"}, {"us-gov-", "aws-us-gov"}, {"us-iso-", "aws-iso"}, {"us-isob-", "aws-iso-b"}, {"eu-isoe-", "aws-iso-e"},
}

// checkRegion accepts a region the provider knows in the aws partition, and
// suggests the nearest for a typo.
func checkRegion(region string) error {
	for _, p := range otherPartitions {
		if strings.HasPrefix(region, p.prefix) {
			return fmt.Errorf("a region of the %s partition; the lab runs in the aws partition only (its Ubuntu image is Canonical's, "+
				"published there), for example us-east-1", p.partition)
		}
	}
	var names []string
	for _, r := range awsRegions {
		if string(r) == region {
			return nil
		}
		names = append(names, string(r))
	}
	if near := nearest(region, names); near != "" {
		return fmt.Errorf("not an AWS region: did you mean %s? (set it with `pulumi config set aws:region %s`)", near, near)
	}
	slices.Sort(names)
	return fmt.Errorf("not an AWS region; the AWS provider knows %s", strings.Join(names, ", "))
}

// nearest is the candidate closest to s by edit distance, if it is close
// enough to be what was meant (a third of its length, at most 3 edits).
func nearest(s string, candidates []string) string {
	best, bestDist := "", min(3, len(s)/3+1)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between two strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
