// Package wgkey makes, reads and checks WireGuard keys as wg(8) does. It is
// shared by the lab's program and a member's own tool, and imports no cloud
// SDK, so that a member's tool builds in seconds.
package wgkey

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// Len is the length of a Curve25519 key.
const Len = 32

// Parse decodes a key as wg(8) writes it: 32 bytes in standard, padded
// base64 (44 characters). Go's lenient decoder would accept keys wg refuses,
// so the strict one decides.
func Parse(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != Len {
		return nil, errors.New("not a WireGuard key: 44 characters of base64, as `wg genkey` and `wg pubkey` (or `go run ./cmd/lab-vpn keygen`) print")
	}
	return b, nil
}

// Public is the public key of a private key, as `wg pubkey` computes it:
// X25519 with the base point.
func Public(private []byte) (string, error) {
	pub, err := curve25519.X25519(private, curve25519.Basepoint)
	if err != nil {
		return "", fmt.Errorf("deriving the WireGuard public key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(pub), nil
}

// CheckPublic refuses a public key no peer can use: X25519 with a low-order
// point (the all-zero key among them) gives no shared secret.
func CheckPublic(s string) error {
	pub, err := Parse(s)
	if err != nil {
		return err
	}
	probe := make([]byte, Len)
	probe[0] = 9 // any scalar will do: a low-order point gives zero for all
	if _, err := curve25519.X25519(probe, pub); err != nil {
		return errors.New("a low-order point, not a usable WireGuard public key")
	}
	return nil
}

// New makes a key pair as `wg genkey | wg pubkey` does: 32 random bytes,
// clamped for Curve25519.
func New() (private, public string, err error) {
	k := make([]byte, Len)
	if _, err := rand.Read(k); err != nil {
		return "", "", fmt.Errorf("reading random bytes: %w", err)
	}
	return FromBytes(k)
}

// FromBytes clamps the 32 bytes k for Curve25519, in place, and returns them
// as a private key with its public key.
func FromBytes(k []byte) (private, public string, err error) {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	public, err = Public(k)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(k), public, nil
}

// LooksPrivate says whether the key s has the pattern of a clamped private
// key (the low 3 bits clear, the top bit clear, bit 254 set), which every
// key wg genkey makes has. A public key (whose top bit is always clear) has
// it by chance once in 16: a reason to ask, not to refuse.
func LooksPrivate(s string) bool {
	key, err := Parse(s)
	return err == nil && key[0]&7 == 0 && key[31]&0xc0 == 0x40
}
