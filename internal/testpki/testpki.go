// Package testpki issues throwaway X.509 certificates for tests: a CA, and
// server, client or node certificates signed by it, written as PEM files.
// Keys are ECDSA P-256, so issuing takes well under a millisecond.
//
// It is for tests only: keys are written unencrypted and certificates live
// for a day.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority that signs the certificates it issues.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is the PEM file of the CA's certificate.
	File string
	dir  string
}

// Spec says what a certificate names. Zero fields are left out.
type Spec struct {
	// Name is the file name stem and, unless CommonName is set, the
	// Subject CN.
	Name       string
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	URIs       []string
	// Server and Client set the extended key usages; neither sets both.
	Server, Client bool
}

// Issued is a certificate and its key, in memory and as PEM files.
type Issued struct {
	Cert     *x509.Certificate
	CertFile string
	KeyFile  string
	CertPEM  []byte
	KeyPEM   []byte
}

// NewCA makes a self-signed CA named name whose files go into dir.
func NewCA(dir, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, name+"-ca.pem")
	if err := writeAtomic(file, pemBlock("CERTIFICATE", der)); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, File: file, dir: dir}, nil
}

// Issue signs a certificate for spec and writes it and its key to
// <Name>.pem and <Name>-key.pem in the CA's directory, replacing earlier
// files atomically (by rename), as a certificate manager would.
func (ca *CA) Issue(spec Spec) (*Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cn := spec.CommonName
	if cn == "" {
		cn = spec.Name
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
	}
	for _, s := range spec.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("URI SAN %q: %v", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	switch {
	case spec.Server && !spec.Client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case spec.Client && !spec.Server:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	is := &Issued{
		Cert:     cert,
		CertFile: filepath.Join(ca.dir, spec.Name+".pem"),
		KeyFile:  filepath.Join(ca.dir, spec.Name+"-key.pem"),
		CertPEM:  pemBlock("CERTIFICATE", der),
		KeyPEM:   pemBlock("PRIVATE KEY", keyDER),
	}
	// The key first: a reader that sees the new certificate finds its key.
	if err := writeAtomic(is.KeyFile, is.KeyPEM); err != nil {
		return nil, err
	}
	if err := writeAtomic(is.CertFile, is.CertPEM); err != nil {
		return nil, err
	}
	return is, nil
}

// Node is the Spec of a node certificate: the name as CN and DNS name,
// 127.0.0.1 as IP SAN, for both server and client use.
func Node(name string) Spec {
	return Spec{Name: name, DNSNames: []string{name, "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
}

// Client is the Spec of a client certificate whose identity is id (its
// only DNS SAN).
func Client(id string) Spec {
	return Spec{Name: "client-" + id, DNSNames: []string{id}, Client: true}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeAtomic writes data to a temporary file beside path and renames it
// over path.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}
