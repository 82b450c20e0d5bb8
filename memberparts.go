package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// A member list reaches its server in standard SSM parameters (free, at
// most maxParameterBytes each). The head is the parameter whose name the
// server's userdata holds. A list that fits it is the head's value as it is,
// {"members":[...]}. A longer one is split, between members, into parts of
// the same shape, each a parameter of its own (<head>-part-1, -2, ...), and
// the head holds {"parts":[their names],"sha256":"..."}: the digest of the
// parts' values, each followed by a newline, in order. The head's value
// comes from the parts' names, so the engine writes the parts before the
// head; a server that reads a head and parts of different updates finds
// that the digest differs and applies nothing (parameter-sync-lib.sh,
// member_list). Members coming and going change the parameters' values and
// how many parts there are, never a name in the userdata.

// memberPartSuffix joins the head's logical name and a part's number. The
// engine names a parameter <logical>-<random>; the servers read only parts
// named after their head's logical name (<logical>-part-), so that a head
// cannot make them read another parameter their role may read.
const memberPartSuffix = "-part-"

// A part's value is a member list too: its members between these.
const (
	memberListOpen  = `{"members":[`
	memberListClose = `]}`
)

// memberParts splits a member list (marshalMembers) into the values of the
// parameters that carry it: the list itself when it fits one parameter,
// else parts of whole members, each at most maxParameterBytes.
func memberParts(list string) ([]string, error) {
	if len(list) <= maxParameterBytes {
		return []string{list}, nil
	}
	var l struct {
		Members []json.RawMessage `json:"members"`
	}
	if err := json.Unmarshal([]byte(list), &l); err != nil {
		return nil, fmt.Errorf("splitting the member list: %w", err)
	}
	room := maxParameterBytes - len(memberListOpen) - len(memberListClose)
	var parts []string
	var part bytes.Buffer
	flush := func() {
		if part.Len() > 0 {
			parts = append(parts, memberListOpen+part.String()+memberListClose)
			part.Reset()
		}
	}
	for _, m := range l.Members {
		if len(m) > room {
			return nil, fmt.Errorf("one member takes %d bytes of the member list, and a parameter holds %d", len(m), room)
		}
		if part.Len() > 0 && part.Len()+1+len(m) > room {
			flush()
		}
		if part.Len() > 0 {
			part.WriteByte(',')
		}
		part.Write(m)
	}
	flush()
	return parts, nil
}

// memberHead is the head's value for a list split into parts: their names
// and the digest of their values.
func memberHead(names, values []string) (string, error) {
	sum := sha256.New()
	for _, v := range values {
		sum.Write([]byte(v + "\n"))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Parts  []string `json:"parts"`
		SHA256 string   `json:"sha256"`
	}{names, hex.EncodeToString(sum.Sum(nil))}); err != nil {
		return "", fmt.Errorf("encoding the member list's head: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// memberList is a member list's parameters: the head, and the parts when
// the list is split.
type memberList struct {
	Head  *ssm.Parameter
	Parts []*ssm.Parameter
}

// arns are the ARNs of the list's parameters, the head's first: what the
// server's role may read of them.
func (l *memberList) arns() pulumi.StringArrayOutput {
	arns := pulumi.StringArray{l.Head.Arn}
	for _, p := range l.Parts {
		arns = append(arns, p.Arn)
	}
	return arns.ToStringArrayOutput()
}

// declareMemberList declares a member list's parameters: n values (from
// memberParts), the i-th of which is part(i). One value is the head's
// itself; more are parts, and the head names them.
func declareMemberList(ctx *pulumi.Context, c *labConfig, logical, tag, description string, n int, part func(i int) pulumi.StringOutput) (*memberList, error) {
	l := &memberList{}
	if n <= 1 {
		head, err := secureParameter(ctx, c, logical, tag, description, part(0))
		if err != nil {
			return nil, err
		}
		l.Head = head
		return l, nil
	}
	var values []any
	for i := range n {
		num := fmt.Sprint(i + 1)
		p, err := secureParameter(ctx, c, logical+memberPartSuffix+num, tag+memberPartSuffix+num,
			fmt.Sprintf("%s (part %d of %d)", description, i+1, n), part(i))
		if err != nil {
			return nil, err
		}
		l.Parts = append(l.Parts, p)
		values = append(values, p.Name, p.Value)
	}
	head := pulumi.All(values...).ApplyT(func(v []any) (string, error) {
		var names, parts []string
		for i := 0; i < len(v); i += 2 {
			names, parts = append(names, v[i].(string)), append(parts, v[i+1].(string))
		}
		return memberHead(names, parts)
	}).(pulumi.StringOutput)
	var err error
	if l.Head, err = secureParameter(ctx, c, logical, tag, description, head); err != nil {
		return nil, err
	}
	return l, nil
}
