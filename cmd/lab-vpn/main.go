// Command lab-vpn is a team member's tools for a WireGuard lab: a key pair,
// and the member's profile as a file or a QR code. It builds from packages
// that import no cloud SDK, in seconds on a fresh clone:
//
//	go run ./cmd/lab-vpn keygen --private-key ~/research-lab/wg.key
//	go run ./cmd/lab-vpn profile --member alice --private-key ~/research-lab/wg.key --outputs outputs.json --out ~/research-lab/research-lab.conf
package main

import (
	"os"

	"research-lab/internal/vpncli"
)

func main() {
	os.Exit(vpncli.Run("go run ./cmd/lab-vpn", os.Args[1:], os.Stdout, os.Stderr))
}
