package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// sampleNotebook is the lab manual's hol02-app.ipynb: a small ipywidgets
// dashboard that Voila publishes and Jupyter opens right after the first deploy.
//
//go:embed notebooks/hol02-app.ipynb
var sampleNotebook string

const sampleNotebookName = "hol02-app.ipynb"

type storage struct {
	Bucket *s3.BucketV2
	Sample *s3.BucketObjectv2
	// JupyterProfile and VoilaProfile are the instance profile names each
	// server uses.
	JupyterProfile pulumi.StringInput
	VoilaProfile   pulumi.StringInput
	// JupyterAccess are the IAM resources behind Jupyter's profile: its
	// shutdown push needs them until the very end.
	JupyterAccess []pulumi.Resource
	// JupyterMembers is the team as the Jupyter server applies it (names and
	// password hashes): the head of JupyterTeam's parameters (memberparts.go);
	// nil in a single-user lab.
	JupyterMembers *ssm.Parameter
	JupyterTeam    *memberList
	// ACMEClient is lab-acme in the bucket, built on this machine, which
	// Voila installs once its digest (ACMEBinary.SHA256) checks out.
	ACMEClient *s3.BucketObjectv2
	ACMEBinary acmeBinary
	// HubProxy is the package files of a team's JupyterHub proxy in the
	// bucket, which Jupyter installs; nil in a single-user lab.
	HubProxy []pulumi.Resource
}

// createStorage declares the notebook bucket (versioned, encrypted, private,
// TLS only), the sample notebook, and the instance profiles that reach it.
func createStorage(ctx *pulumi.Context, c *labConfig) (*storage, error) {
	acme, err := acmeClient(goArch(c.VoilaType))
	if err != nil {
		return nil, err
	}
	bucketArgs := &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(c.ForceDestroy),
		Tags:         c.tags("Notebooks"),
	}
	if c.BucketName != "" {
		bucketArgs.Bucket = pulumi.String(c.BucketName)
	}
	// Without forceDestroyBucket, `pulumi destroy` leaves the bucket and its
	// protections (versioning, encryption, public access block, TLS only) in
	// place, with every notebook in it.
	keep := pulumi.RetainOnDelete(!c.ForceDestroy)
	bucket, err := s3.NewBucketV2(ctx, "notebooks", bucketArgs, keep,
		c.formerNames(func(prefix string) string { return strings.ToLower(prefix) + "-notebooks" }))
	if err != nil {
		return nil, fmt.Errorf("declaring the notebook bucket: %w", err)
	}
	s := &storage{Bucket: bucket, ACMEBinary: acme}

	_, err = s3.NewBucketVersioningV2(ctx, "notebooks-versioning", &s3.BucketVersioningV2Args{
		Bucket: bucket.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{
			Status: pulumi.String("Enabled"),
		},
	}, keep, c.formerNames(func(prefix string) string { return prefix + "-notebooks-versioning" }))
	if err != nil {
		return nil, fmt.Errorf("declaring the bucket's versioning: %w", err)
	}
	_, err = s3.NewBucketServerSideEncryptionConfigurationV2(ctx, "notebooks-encryption", &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{
			s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("AES256"),
				},
			},
		},
	}, keep, c.formerNames(func(prefix string) string { return prefix + "-notebooks-encryption" }))
	if err != nil {
		return nil, fmt.Errorf("declaring the bucket's encryption: %w", err)
	}
	pab, err := s3.NewBucketPublicAccessBlock(ctx, "notebooks-public-access-block", &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, keep, c.formerNames(func(prefix string) string { return prefix + "-notebooks-public-access-block" }))
	if err != nil {
		return nil, fmt.Errorf("declaring the bucket's public access block: %w", err)
	}
	_, err = s3.NewBucketPolicy(ctx, "notebooks-tls-only", &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: bucket.Arn.ApplyT(func(arn string) (string, error) {
			return policyJSON(statement{
				Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: []string{"s3:*"},
				Resource:  []string{arn, arn + "/*"},
				Condition: map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
			})
		}).(pulumi.StringOutput),
	}, pulumi.DependsOn([]pulumi.Resource{pab}), keep, c.formerNames(func(prefix string) string { return prefix + "-notebooks-tls-only" }))
	if err != nil {
		return nil, fmt.Errorf("declaring the bucket policy: %w", err)
	}

	// The sample is written once. Later edits by researchers are never undone by
	// `pulumi up` (content changes are ignored), and it is not deleted with the
	// stack: it is a notebook like any other.
	s.Sample, err = s3.NewBucketObjectv2(ctx, "sample-notebook", &s3.BucketObjectv2Args{
		Bucket:      bucket.ID(),
		Key:         pulumi.String(c.sampleKey()),
		Content:     pulumi.String(sampleNotebook),
		ContentType: pulumi.String("application/x-ipynb+json"),
		Tags:        c.tags("sample-notebook"),
	}, pulumi.IgnoreChanges([]string{"content", "contentType", "etag", "source", "sourceHash", "tags"}), pulumi.RetainOnDelete(true),
		c.formerNames(func(prefix string) string { return prefix + "-sample-notebook" }))
	if err != nil {
		return nil, fmt.Errorf("declaring the sample notebook: %w", err)
	}

	s.ACMEClient, err = s3.NewBucketObjectv2(ctx, "lab-acme", &s3.BucketObjectv2Args{
		Bucket:      bucket.ID(),
		Key:         pulumi.String(acmeBinaryKey),
		Source:      pulumi.NewFileAsset(acme.Path),
		ContentType: pulumi.String("application/octet-stream"),
		Tags:        c.tags("lab-acme"),
	})
	if err != nil {
		return nil, fmt.Errorf("declaring the certificate client lab-acme: %w", err)
	}

	if c.team() {
		// The hub's proxy: its package files, checked on the server against
		// the digests in its userdata.
		if s.HubProxy, err = uploadFiles(ctx, c, bucket, "hub-proxy", hubProxySource, hubProxyFiles, "application/json", "hub-proxy"); err != nil {
			return nil, err
		}
		// The members' password hashes, salted with the lab (its bucket's
		// random name, kept in the state) and the member.
		// The hashes have fixed lengths: the list with stand-ins for them
		// splits into as many parts, between the same members.
		sizing, err := jupyterMembersSized(c)
		if err != nil {
			return nil, err
		}
		n, err := memberParts(sizing)
		if err != nil {
			return nil, err
		}
		parts := bucket.Bucket.ApplyT(func(b string) ([]string, error) {
			hashes, err := jupyterMembers(c, projectName+"/"+c.Stack+"/"+b)
			if err != nil {
				return nil, err
			}
			parts, err := memberParts(hashes)
			if err == nil && len(parts) != len(n) {
				err = fmt.Errorf("the member list came to %d parts, not %d", len(parts), len(n))
			}
			return parts, err
		}).(pulumi.StringArrayOutput)
		team, err := declareMemberList(ctx, c, "jupyter-members", "Jupyter-members", "the team as Jupyter applies it", len(n),
			func(i int) pulumi.StringOutput { return parts.Index(pulumi.Int(i)) })
		if err != nil {
			return nil, err
		}
		s.JupyterMembers, s.JupyterTeam = team.Head, team
	}

	if c.InstanceProfile != "" {
		p := pulumi.String(c.InstanceProfile)
		s.JupyterProfile, s.VoilaProfile = p, p
		return s, nil
	}
	jupyterPolicy := notebookPolicyOf(c, bucket, notebookAccessReadWrite)
	if s.JupyterMembers != nil {
		jupyterPolicy = pulumi.All(bucket.Arn, s.JupyterTeam.arns()).ApplyT(func(arns []any) (string, error) {
			return notebookPolicy(arns[0].(string), c, notebookAccessReadWrite, statement{
				Sid: "ReadTheTeam", Effect: "Allow", Action: []string{"ssm:GetParameter"}, Resource: arns[1].([]string),
			})
		}).(pulumi.StringOutput)
	}
	s.JupyterProfile, s.JupyterAccess, err = createServerProfile(ctx, c, "Jupyter", "Notebooks", jupyterPolicy)
	if err != nil {
		return nil, err
	}
	s.VoilaProfile, _, err = createServerProfile(ctx, c, "Voila", "Notebooks", notebookPolicyOf(c, bucket, notebookAccessReadOnly))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// uploadFiles puts files of a project folder into the bucket as they are,
// under keyPrefix; each object's logical name is "<folder>-<file>".
func uploadFiles(ctx *pulumi.Context, c *labConfig, bucket *s3.BucketV2, folder, keyPrefix string, files []string, contentType, tag string) ([]pulumi.Resource, error) {
	var objects []pulumi.Resource
	for _, f := range files {
		obj, err := s3.NewBucketObjectv2(ctx, folder+"-"+f, &s3.BucketObjectv2Args{
			Bucket:      bucket.ID(),
			Key:         pulumi.String(keyPrefix + "/" + f),
			Source:      pulumi.NewFileAsset(filepath.Join(folder, f)),
			ContentType: pulumi.String(contentType),
			Tags:        c.tags(tag),
		})
		if err != nil {
			return nil, fmt.Errorf("declaring %s/%s in the bucket: %w", folder, f, err)
		}
		objects = append(objects, obj)
	}
	return objects, nil
}

type notebookAccess int

const (
	notebookAccessReadOnly notebookAccess = iota
	notebookAccessReadWrite
)

// notebookPolicy is the least privilege a server needs in the bucket. Jupyter
// lists, reads and writes the notebook prefix and deletes only in the publish
// folder (unpublishing); Voila lists and reads the publish folder only, and
// reads its certificate client.
//
// In a team lab every member's folder has its publish folder: Voila lists the
// notebook prefix (to find them) and reads only what they publish.
func notebookPolicy(bucketArn string, c *labConfig, access notebookAccess, extra ...statement) (string, error) {
	listed, prefix := c.NotebookPrefix, c.NotebookPrefix
	if access == notebookAccessReadOnly {
		prefix = c.publishedPrefix()
		if !c.team() {
			listed = prefix
		}
	}
	actions := []string{"s3:GetObject"}
	if access == notebookAccessReadWrite {
		actions = append(actions, "s3:PutObject")
	}
	statements := []statement{
		{
			Sid: "ListNotebooks", Effect: "Allow", Action: []string{"s3:ListBucket"},
			Resource:  []string{bucketArn},
			Condition: map[string]any{"StringLike": map[string][]string{"s3:prefix": {listed + "/", listed + "/*"}}},
		},
		{Sid: "Notebooks", Effect: "Allow", Action: actions, Resource: []string{bucketArn + "/" + prefix + "/*"}},
	}
	if access == notebookAccessReadOnly {
		statements = append(statements, statement{
			Sid: "CertificateClient", Effect: "Allow", Action: []string{"s3:GetObject"},
			Resource: []string{bucketArn + "/" + acmeBinaryKey},
		})
	}
	if access == notebookAccessReadWrite && c.team() {
		statements = append(statements, statement{
			Sid: "HubProxyPackages", Effect: "Allow", Action: []string{"s3:GetObject"},
			Resource: []string{bucketArn + "/" + hubProxySource + "/*"},
		})
	}
	if access == notebookAccessReadWrite && c.PublishFolder != "" {
		statements = append(statements, statement{
			Sid: "Unpublish", Effect: "Allow", Action: []string{"s3:DeleteObject"},
			Resource: []string{bucketArn + "/" + c.publishedPrefix() + "/*"},
		})
	}
	return policyJSON(append(statements, extra...)...)
}

func notebookPolicyOf(c *labConfig, bucket *s3.BucketV2, access notebookAccess) pulumi.StringOutput {
	return bucket.Arn.ApplyT(func(arn string) (string, error) { return notebookPolicy(arn, c, access) }).(pulumi.StringOutput)
}

// createServerProfile declares a role that EC2 may assume, its one inline
// policy and the instance profile, and returns the profile's name and the
// three resources.
func createServerProfile(ctx *pulumi.Context, c *labConfig, server, policyName string, policyDoc pulumi.StringOutput) (pulumi.StringOutput, []pulumi.Resource, error) {
	assume, err := policyJSON(statement{
		Effect: "Allow", Action: []string{"sts:AssumeRole"},
		Principal: map[string]string{"Service": "ec2.amazonaws.com"},
	})
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	name, alias := c.logical(server + "-Role")
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.Sprintf("%s server of %s: %s", server, c.NamePrefix, policyName),
		AssumeRolePolicy: pulumi.String(assume),
		Tags:             c.tags(server + "-Role"),
	}, alias)
	if err != nil {
		return pulumi.StringOutput{}, nil, fmt.Errorf("declaring the %s role: %w", server, err)
	}
	name, alias = c.logical(server + "-" + policyName)
	policy, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role:   role.ID(),
		Policy: policyDoc,
	}, alias)
	if err != nil {
		return pulumi.StringOutput{}, nil, fmt.Errorf("declaring the %s role policy: %w", server, err)
	}
	name, alias = c.logical(server + "-Profile")
	profile, err := iam.NewInstanceProfile(ctx, name, &iam.InstanceProfileArgs{
		Role: role.Name,
		Tags: c.tags(server + "-Profile"),
	}, alias)
	if err != nil {
		return pulumi.StringOutput{}, nil, fmt.Errorf("declaring the %s instance profile: %w", server, err)
	}
	return profile.Name, []pulumi.Resource{role, policy, profile}, nil
}

type statement struct {
	Sid       string         `json:"Sid,omitempty"`
	Effect    string         `json:"Effect"`
	Principal any            `json:"Principal,omitempty"`
	Action    []string       `json:"Action"`
	Resource  []string       `json:"Resource,omitempty"`
	Condition map[string]any `json:"Condition,omitempty"`
}

func policyJSON(statements ...statement) (string, error) {
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	if err != nil {
		return "", fmt.Errorf("encoding an IAM policy: %w", err)
	}
	return string(b), nil
}
