// Package outputs reads a deployed lab's stack outputs, from a file or from
// the Pulumi CLI, for the commands that work on a lab from outside.
package outputs

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Read reads the stack outputs from a file, or asks the Pulumi CLI (for
// stack as the user named it; "" is the current stack).
func Read(file, stack string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading the outputs: %w", err)
		}
		return b, nil
	}
	args := []string{"stack", "output", "--json"}
	if stack != "" {
		args = append(args, "--stack", stack)
	}
	b, err := exec.Command("pulumi", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("`pulumi %s` failed (%v): run it where the Pulumi CLI can read the stack, or pass --outputs FILE", strings.Join(args, " "), err)
	}
	return b, nil
}
