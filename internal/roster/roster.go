// Package roster reads a class's roster and counts what the class needs
// against an AWS account's quotas: pure logic, no cloud SDK, so the
// classroom's refusals are cheap to test.
package roster

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// Student is one row of the roster: one lab, one stack.
type Student struct {
	Line    int    // in the roster file, for messages
	ID      string // the stack name
	Name    string
	Email   string
	Account string // 12 digits, or "" for the instructor's account
	Region  string // "" for the class template's
}

// columns are the roster's columns; id is required.
var columns = []string{"id", "name", "email", "account", "region"}

var accountRe = regexp.MustCompile(`^[0-9]{12}$`)

// Problems are every problem of a roster, each on its line.
type Problems struct {
	File  string
	Lines []Problem
}

// Problem is one problem on one line of the roster.
type Problem struct {
	Line int
	Msg  string
}

func (p *Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is refused (%d problems; nothing was done):", p.File, len(p.Lines))
	for _, l := range p.Lines {
		fmt.Fprintf(&b, "\n  %s:%d: %s", p.File, l.Line, l.Msg)
	}
	return b.String()
}

// Parse reads a roster: CSV with a header naming its columns (id, and any
// of name, email, account, region). checkRegion is the program's own region
// check. A roster with any problem is refused whole, with all of them.
func Parse(r io.Reader, file string, checkRegion func(string) error) ([]Student, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a short row is a problem of its own, with its line
	cr.TrimLeadingSpace = true
	probs := &Problems{File: file}
	bad := func(line int, format string, args ...any) {
		probs.Lines = append(probs.Lines, Problem{line, fmt.Sprintf(format, args...)})
	}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		bad(1, "the roster is empty: its first line must be a header such as id,name,email")
		return nil, probs
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	index := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case !slices.Contains(columns, h):
			bad(1, "unknown column %q (the columns are %s)", h, strings.Join(columns, ", "))
		case index[h] != 0:
			bad(1, "column %q twice", h)
		default:
			index[h] = i + 1 // 0 is "absent"
		}
	}
	if index["id"] == 0 {
		bad(1, "no id column: the header must name one (the student's stack name)")
		return nil, probs
	}
	var students []Student
	firstLine := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad(pe.Line, "%v", pe.Err)
				continue
			}
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) > len(header) {
			bad(line, "%d fields, the header has %d", len(rec), len(header))
			continue
		}
		field := func(col string) string {
			if i := index[col]; i > 0 && i <= len(rec) {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		s := Student{Line: line, ID: field("id"), Name: field("name"), Email: field("email"), Account: field("account"), Region: field("region")}
		switch first, dup := firstLine[s.ID]; {
		case s.ID == "":
			bad(line, "no id")
		case dup:
			bad(line, "id %q again (first on line %d)", s.ID, first)
		default:
			firstLine[s.ID] = line
			if _, err := tokens.ParseStackName(s.ID); err != nil {
				bad(line, "id %q is not a Pulumi stack name: %v", s.ID, err)
			}
		}
		if s.Email != "" {
			if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email {
				bad(line, "email %q is not an email address", s.Email)
			}
		}
		if s.Account != "" && !accountRe.MatchString(s.Account) {
			bad(line, "account %q is not an AWS account id (12 digits)", s.Account)
		}
		if s.Region != "" {
			if err := checkRegion(s.Region); err != nil {
				bad(line, "region %q: %v", s.Region, err)
			}
		}
		students = append(students, s)
	}
	if len(students) == 0 && len(probs.Lines) == 0 {
		bad(2, "no students: add a line per student after the header")
	}
	if len(probs.Lines) > 0 {
		return nil, probs
	}
	return students, nil
}
