package main

// The forcing-replacement table (internal/awsmodel) is what the AWS
// stand-in of the engine tests replaces by; the engine tests (engine_test.go)
// prove the lifecycle with it. This cheaper test holds the table to the
// program: every type any lab declares has a row.

import (
	"testing"

	"research-lab/internal/awsmodel"

	"github.com/stretchr/testify/assert"
)

// TestEveryDeclaredTypeHasReplacementRules: a type the lab declares without
// a row in the table would never be replaced by the stand-in, so the engine
// tests could not see a replacement of it.
func TestEveryDeclaredTypeHasReplacementRules(t *testing.T) {
	runs := []*mockRun{
		deploy(t, map[string]string{"monthlyBudgetUsd": "40", "budgetEmail": "t@example.edu"}),
		deploy(t, map[string]string{"keyName": "vockey", "sshPublicKey": "-", "instanceProfile": "LabInstanceProfile"}),
		deployTeam(t, "wireguard", []string{"alice"}, nil),
	}
	for _, mode := range egressModes {
		runs = append(runs, deploy(t, map[string]string{"researchEgress": mode}))
	}
	for _, run := range runs {
		for _, r := range run.Mocks.all() {
			_, ok := awsmodel.ReplaceOnChange[r.Type]
			assert.True(t, ok, "no replacement rules for %s (%s): add the type to internal/awsmodel with its provider source", r.Type, r.Name)
		}
	}
}
