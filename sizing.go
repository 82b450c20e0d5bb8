package main

import (
	"fmt"
	"strings"
)

// A team's Jupyter server is sized the way The Littlest JupyterHub's
// "Server requirements" page sizes one: memory for the members at work at
// once, each with their own cap, plus what the server itself needs; disk
// for every member plus the system's.
const (
	// defaultJupyterType is a single researcher's server: 4 GiB.
	defaultJupyterType = "t4g.medium"
	// defaultMemberMemoryMiB is each member's cap: a pandas data frame of a
	// few hundred MB with its copies, Matplotlib, and the server itself.
	defaultMemberMemoryMiB = 1024
	minMemberMemoryMiB     = 256
	maxMemberMemoryMiB     = 64 * 1024
	// hubOverheadMiB is what the server keeps outside the members' slice:
	// the kernel's own reservation, Amazon Linux, JupyterHub and its proxy,
	// the members' sync and the shutdown push.
	hubOverheadMiB = 1024
	// Up to activeAllUpTo members are all at work at once by default; in a
	// larger team, one in activeOneIn of the others as well: a team works
	// in shifts and time zones, and an idle member's server stops itself
	// (memberIdleMinutes), freeing its memory.
	activeAllUpTo = 5
	activeOneIn   = 3
	// memberDiskGB is each member's room on the server's disk (their home,
	// notebooks and what they install with %pip), on top of jupyterRootGB.
	memberDiskGB = 2
	diskStepGB   = 10
)

// jupyterTypes are the types the program chooses a team's server from,
// cheapest first (prices.json), each with more memory than the one before:
// Graviton types, whose price per GiB is the lowest, burstable up to 16 GiB
// and memory-optimized beyond (cheaper per GiB than a t4g.2xlarge, and never
// throttled to a baseline). The smallest is a single researcher's, so that
// no team's server is smaller than it was before teams were sized.
// TestJupyterTypesClimbInPriceAndMemory holds it.
var jupyterTypes = []string{defaultJupyterType, "t4g.large", "t4g.xlarge", "r7g.xlarge", "r7g.2xlarge", "r7g.4xlarge"}

// hubSizing is how a team's Jupyter server is sized, for the plan to show.
type hubSizing struct {
	Members, Active int
	MemberMiB       int // each member's cap
	NeedMiB         int // Active x MemberMiB + hubOverheadMiB
	Type            string
	TypeMiB         int  // 0: a type the lab does not know
	Chosen          bool // the program chose Type (jupyterInstanceType unset)
	RootGB          int
}

// activeByDefault is how many of a team of n are at work at once unless
// activeMembers says otherwise.
func activeByDefault(n int) int {
	if n <= activeAllUpTo {
		return n
	}
	return activeAllUpTo + (n-activeAllUpTo+activeOneIn-1)/activeOneIn
}

// teamRootGB is a team's disk: the system's and every member's, rounded up
// to diskStepGB.
func teamRootGB(members int) int {
	gb := jupyterRootGB + members*memberDiskGB
	return (gb + diskStepGB - 1) / diskStepGB * diskStepGB
}

// sizeHub sizes a team's Jupyter server from the configuration: the type
// configured, or the cheapest of jupyterTypes that holds the active members.
// The error says what to change when none does.
func sizeHub(c *labConfig) (*hubSizing, error) {
	s := &hubSizing{Members: len(c.Members), Active: c.ActiveMembers, MemberMiB: c.MemberMemoryMiB, Type: c.JupyterType}
	if s.Active == 0 {
		s.Active = activeByDefault(s.Members)
	}
	s.NeedMiB = s.Active*s.MemberMiB + hubOverheadMiB
	s.RootGB = teamRootGB(s.Members)
	if s.Type == "" {
		s.Chosen, s.Type = true, s.fitting()
		if s.Type == "" {
			largest := jupyterTypes[len(jupyterTypes)-1]
			return nil, fmt.Errorf("%d active members of %d MiB each and the server's %d MiB need %d MiB, more than the largest type the lab chooses (%s, %d MiB): lower memberMemoryMiB or activeMembers, or set jupyterInstanceType",
				s.Active, s.MemberMiB, hubOverheadMiB, s.NeedMiB, largest, instanceMemoryMiB[largest])
		}
	}
	s.TypeMiB = instanceMemoryMiB[s.Type]
	return s, nil
}

// fitting is the cheapest type that holds the need, or "".
func (s *hubSizing) fitting() string {
	for _, t := range jupyterTypes {
		if instanceMemoryMiB[t] >= s.NeedMiB {
			return t
		}
	}
	return ""
}

// warning is what the plan says of a configured type too small for the
// team, or "".
func (s *hubSizing) warning() string {
	if s.Chosen || s.TypeMiB == 0 || s.TypeMiB >= s.NeedMiB {
		return ""
	}
	msg := fmt.Sprintf("%s:jupyterInstanceType %s has %d MiB, and %d active members of %d MiB each with the server's %d MiB need %d MiB: members' kernels will be killed for memory",
		projectName, s.Type, s.TypeMiB, s.Active, s.MemberMiB, hubOverheadMiB, s.NeedMiB)
	if t := s.fitting(); t != "" {
		msg += fmt.Sprintf("; %s (%d MiB) fits: unset jupyterInstanceType and the lab chooses it", t, instanceMemoryMiB[t])
	}
	return msg + ", or lower memberMemoryMiB or activeMembers"
}

// describe is the plan's account of the sizing: the type, why, and what
// each active member gets.
func (s *hubSizing) describe() string {
	var b strings.Builder
	how := "configured (jupyterInstanceType)"
	if s.Chosen {
		how = "the cheapest that holds them"
	}
	fmt.Fprintf(&b, "Jupyter server for %d members: %s, %s\n", s.Members, s.Type, how)
	active := fmt.Sprintf("%d at work at once", s.Active)
	switch {
	case s.Active == s.Members:
		active += " (the whole team)"
	case s.Active == activeByDefault(s.Members):
		active += fmt.Sprintf(" (all of the first %d, then one in %d: activeMembers)", activeAllUpTo, activeOneIn)
	}
	fmt.Fprintf(&b, "  members     %s, %d MiB each (memberMemoryMiB)\n", active, s.MemberMiB)
	fmt.Fprintf(&b, "  memory      needs %d MiB (%d x %d + %d for the server itself)", s.NeedMiB, s.Active, s.MemberMiB, hubOverheadMiB)
	if s.TypeMiB > 0 {
		fmt.Fprintf(&b, "; %s has %d MiB, %d MiB per active member", s.Type, s.TypeMiB, (s.TypeMiB-hubOverheadMiB)/s.Active)
	}
	fmt.Fprintf(&b, "\n  disk        %d GB (%d for the system, %d per member)\n", s.RootGB, jupyterRootGB, memberDiskGB)
	return b.String()
}

// sizeJupyter sets the Jupyter server's type: a single researcher's
// default, or, with members, the type that holds the team (sizeHub).
func sizeJupyter(c *labConfig, value func(key string) string, bad func(key, value string, err error)) {
	if !c.team() {
		if c.JupyterType == "" {
			c.JupyterType = defaultJupyterType
		}
		for _, k := range []string{"memberMemoryMiB", "activeMembers"} {
			if value(k) != configDefault(k) {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%s is set but not used by this lab: it sizes a team's server, and this lab has no members", projectName, k))
			}
		}
		return
	}
	if c.ActiveMembers > len(c.Members) {
		bad("activeMembers", value("activeMembers"), fmt.Errorf("the team has %d members: at most that many can be at work at once", len(c.Members)))
		return
	}
	s, err := sizeHub(c)
	if err != nil {
		bad("memberMemoryMiB", value("memberMemoryMiB"), err)
		return
	}
	c.Hub, c.JupyterType = s, s.Type
	if w := s.warning(); w != "" {
		c.Warnings = append(c.Warnings, w)
	}
}

// jupyterDiskGB is the Jupyter server's root volume.
func (c *labConfig) jupyterDiskGB() int {
	if c.Hub != nil {
		return c.Hub.RootGB
	}
	return jupyterRootGB
}
