package main

import (
	"strings"
	"testing"
)

func TestParseServeSecurity(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	base := []string{"--node-id", "n1", "--data-dir", "d"}
	full := append(append([]string{}, base...), "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem")
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error; "" for none
	}{
		{"plaintext", base, ""},
		{"TLS", full, ""},
		{"mutual TLS with binding and limits", append(full, "--tls-client-ca", "clients.pem", "--bind-client-ids", "--rate-limit", "2.5", "--rate-burst", "10"), ""},
		{"cert alone", append(base, "--tls-cert", "c.pem"), "missing --tls-key, --tls-ca"},
		{"no CA", append(base, "--tls-cert", "c.pem", "--tls-key", "k.pem"), "missing --tls-ca"},
		{"client CA alone", append(base, "--tls-client-ca", "clients.pem"), "--tls-client-ca needs --tls-cert"},
		{"server name alone", append(base, "--tls-server-name", "locks"), "--tls-server-name needs"},
		{"binding without client CA", append(full, "--bind-client-ids"), "--bind-client-ids needs client certificates"},
		{"negative rate", append(base, "--rate-limit", "-1"), "--rate-limit must be a non-negative number"},
		{"burst alone", append(base, "--rate-burst", "5"), "--rate-burst needs --rate-limit"},
		{"negative burst", append(base, "--rate-limit", "1", "--rate-burst", "-5"), "--rate-burst must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseServe(tc.args, noEnv)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v (options %+v), want one line containing %q", err, o, tc.want)
			}
		})
	}
}
