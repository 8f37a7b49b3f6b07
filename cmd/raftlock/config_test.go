package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file for the test and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "serve.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A setting comes from the flags, else the environment, else the file,
// else the default.
func TestParseServeConfigPrecedence(t *testing.T) {
	path := writeConfig(t, `# a node
node-id = from-file
data-dir = from-file
log-level = warn
heartbeat-timeout = 3s

join = "10.0.0.1:7100, 10.0.0.2:7100"
`)
	env := map[string]string{
		"RAFTLOCK_DATA_DIR":  "from-env",
		"RAFTLOCK_LOG_LEVEL": "debug",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	o, err := parseServe([]string{"--config", path, "--log-level", "error"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.NodeID != "from-file" {
		t.Errorf("node ID %q, want the file's", c.NodeID)
	}
	if c.DataDir != "from-env" {
		t.Errorf("data dir %q, want the environment's over the file's", c.DataDir)
	}
	if got := o.logLevel.String(); got != "error" {
		t.Errorf("log level %q, want the flag's over the environment's and the file's", got)
	}
	if c.HeartbeatTimeout != 3*time.Second || c.ElectionTimeout != 0 || c.APIAddr != "127.0.0.1:7100" {
		t.Errorf("heartbeat %v, election %v, api %q: want the file's, then the defaults", c.HeartbeatTimeout, c.ElectionTimeout, c.APIAddr)
	}
	if want := []string{"10.0.0.1:7100", "10.0.0.2:7100"}; !slices.Equal(c.Join, want) {
		t.Errorf("join %q, want %q", c.Join, want)
	}

	// The file may be named by the environment too.
	env["RAFTLOCK_CONFIG"] = path
	o, err = parseServe(nil, lookup)
	if err != nil || o.cfg.NodeID != "from-file" {
		t.Errorf("RAFTLOCK_CONFIG: node ID %q, err %v; want the file's", o.cfg.NodeID, err)
	}
}

func TestParseServeConfigErrors(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		name    string
		content string
		want    string // in the error
	}{
		{"unknown key", "node-id = n1\n\n# fine so far\ncolour = blue\n", `line 4: unknown key "colour"`},
		{"dashed key", "--node-id = n1\n", `line 1: unknown key "--node-id"`},
		{"nested config", "config = other.conf\n", `line 1: unknown key "config"`},
		{"twice", "node-id = n1\ndata-dir = d\nnode-id = n2\n", "line 3: node-id is already set on line 1"},
		{"no equals", "node-id n1\n", `line 1: want name = value`},
		{"bad value", "data-dir = d\nelection-timeout = soon\n", `line 2: invalid value "soon" for election-timeout`},
		{"bad quotes", "node-id = \"n1\n", "line 1: bad quoted value"},
		{"long line", "node-id = " + strings.Repeat("x", maxConfigLine) + "\n", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.content)
			_, err := parseServe([]string{"--config", path}, noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want one naming the file and containing %q", err, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nothing.conf")
		_, err := parseServe([]string{"--config", path, "--node-id", "n1", "--data-dir", "d"}, noEnv)
		if err == nil || !strings.Contains(err.Error(), "--config") || !strings.Contains(err.Error(), path) {
			t.Errorf("err = %v, want one naming --config and the file", err)
		}
	})
}

// Quoted values keep their spaces and a # inside a value is part of it;
// Windows line ends are accepted.
func TestParseServeConfigValues(t *testing.T) {
	path := writeConfig(t, "node-id = n1\r\ndata-dir = \" spaced dir \"\r\n  # indented comment\r\nadvertise-api = host#1:7100\r\nbootstrap = true\r\n")
	o, err := parseServe([]string{"--config=" + path}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.DataDir != " spaced dir " || o.cfg.AdvertiseAPIAddr != "host#1:7100" || !o.cfg.Bootstrap || o.cfg.NodeID != "n1" {
		t.Errorf("config = %+v", o.cfg)
	}
}
