// lab-acme obtains and renews the Voila site's certificate: for its Elastic
// IP (Let's Encrypt's short-lived profile) or for voilaDomain, by HTTP-01
// through Nginx's webroot. It does nothing while the certificate has longer
// than --renew-within left, so a timer may run it often. It needs no
// privilege: putting a new certificate in service is the unit's next step.
//
// It is its own module, built on the deployer's machine by the project's
// Pulumi program with the module checksums in go.sum, and verified by digest
// on the server; the tests run that very build against Pebble (Let's
// Encrypt's test server).
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/providers/http/webroot"
	"github.com/go-acme/lego/v5/registration"
)

type options struct {
	Server, Identifier, Profile, Webroot, Dir, Email string
	RenewWithin                                      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.Server, "server", lego.DirectoryURLLetsEncrypt, "ACME directory URL")
	flag.StringVar(&o.Identifier, "identifier", "", "the IP address or DNS name to certify")
	flag.StringVar(&o.Profile, "profile", "", "ACME profile (shortlived for an IP address)")
	flag.StringVar(&o.Webroot, "webroot", "", "folder Nginx serves /.well-known/acme-challenge/ from")
	flag.StringVar(&o.Dir, "dir", "", "folder of the account, the certificate and its key")
	flag.StringVar(&o.Email, "email", "", "contact address for the ACME account (optional)")
	flag.DurationVar(&o.RenewWithin, "renew-within", 72*time.Hour, "renew when the certificate expires within this long")
	flag.Parse()
	if o.Identifier == "" || o.Webroot == "" || o.Dir == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		log.Fatalf("lab-acme: %v", err)
	}
}

func run(ctx context.Context, o options) error {
	certFile, keyFile := filepath.Join(o.Dir, "cert.pem"), filepath.Join(o.Dir, "key.pem")
	if until, ok := stillValid(certFile, o.Identifier, o.RenewWithin); ok {
		log.Printf("lab-acme: the certificate for %s is valid until %s: nothing to do", o.Identifier, until.Format(time.RFC3339))
		return nil
	}
	u, err := loadUser(o.Dir, o.Email)
	if err != nil {
		return err
	}
	client, err := newClient(u, o)
	if err != nil {
		return err
	}
	if u.Registration == nil {
		if u.Registration, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
			return fmt.Errorf("registering with %s: %w", o.Server, err)
		}
		if err := u.save(o.Dir); err != nil {
			return err
		}
		log.Printf("lab-acme: registered account %s", u.Registration.Location)
		// The client signs with the account it was made with: make it again.
		if client, err = newClient(u, o); err != nil {
			return err
		}
	}
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: []string{o.Identifier}, KeyType: certcrypto.EC256, Bundle: true, Profile: o.Profile})
	if err != nil {
		return fmt.Errorf("obtaining a certificate for %s: %w", o.Identifier, err)
	}
	// The key first: Nginx must never find a certificate without its key.
	if err := writeAtomic(keyFile, res.PrivateKey, 0o600); err != nil {
		return err
	}
	if err := writeAtomic(certFile, res.Certificate, 0o644); err != nil {
		return err
	}
	log.Printf("lab-acme: new certificate for %s written to %s", o.Identifier, certFile)
	return nil
}

func newClient(u *user, o options) (*lego.Client, error) {
	config := lego.NewConfig(u)
	config.CADirURL = o.Server
	client, err := lego.NewClient(config)
	if err != nil {
		return nil, fmt.Errorf("ACME client for %s: %w", o.Server, err)
	}
	provider, err := webroot.NewHTTPProvider(o.Webroot)
	if err != nil {
		return nil, fmt.Errorf("webroot %s: %w", o.Webroot, err)
	}
	if err := client.Challenge.SetHTTP01Provider(provider); err != nil {
		return nil, err
	}
	return client, nil
}

// stillValid says whether the certificate in file covers the identifier and
// has longer than renewWithin left.
func stillValid(file, identifier string, renewWithin time.Duration) (time.Time, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return time.Time{}, false
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return time.Time{}, false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, false
	}
	covers := slices.Contains(cert.DNSNames, identifier)
	if ip := net.ParseIP(identifier); ip != nil {
		covers = slices.ContainsFunc(cert.IPAddresses, ip.Equal)
	}
	return cert.NotAfter, covers && time.Until(cert.NotAfter) > renewWithin
}

// user is the ACME account, kept in dir: its key and its registration.
type user struct {
	Email        string
	Registration *acme.ExtendedAccount
	key          crypto.Signer
}

func (u *user) GetEmail() string                       { return u.Email }
func (u *user) GetRegistration() *acme.ExtendedAccount { return u.Registration }
func (u *user) GetPrivateKey() crypto.Signer           { return u.key }
func accountFiles(dir string) (key, registration string) {
	return filepath.Join(dir, "account.key"), filepath.Join(dir, "account.json")
}

func loadUser(dir, email string) (*user, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keyFile, regFile := accountFiles(dir)
	u := &user{Email: email}
	b, err := os.ReadFile(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		u.key = k
	case err != nil:
		return nil, err
	default:
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM key", keyFile)
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyFile, err)
		}
		u.key = k
	}
	if b, err := os.ReadFile(regFile); err == nil {
		if err := json.Unmarshal(b, &u.Registration); err != nil {
			return nil, fmt.Errorf("%s: %w", regFile, err)
		}
	}
	return u, nil
}

func (u *user) save(dir string) error {
	_, regFile := accountFiles(dir)
	b, err := json.Marshal(u.Registration)
	if err != nil {
		return err
	}
	return writeAtomic(regFile, b, 0o600)
}

// writeAtomic replaces file with data in one step: no reader sees half of it.
func writeAtomic(file string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
