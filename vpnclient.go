package main

// `go run . vpn keygen|profile`: a member's tools as cmd/lab-vpn runs them
// (which builds in seconds, without the cloud SDK), here too for the lab's
// owner, who has the program built anyway.

import (
	"io"

	"research-lab/internal/vpncli"
)

// runVPN is `go run . vpn`; it returns the exit status.
func runVPN(args []string, stdout, stderr io.Writer) int {
	return vpncli.Run("go run . vpn", args, stdout, stderr)
}
