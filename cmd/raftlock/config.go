package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// serve reads its settings from four places, each overriding the one
// before: the flags' defaults, the file --config names, the environment,
// the command line. A file keeps a node's settings where an operator can
// review them; the environment and the flags adjust them per start.
//
// The file is plain text, one setting per line:
//
//	# node 1 of the lock service
//	node-id   = n1
//	data-dir  = /var/lib/raftlock/n1
//	join      = 10.0.0.2:7100,10.0.0.3:7100
//	log-level = "debug"
//
// Names are serve's flag names without the dashes; a value is what the flag
// takes, optionally in Go's double quotes (for leading or trailing spaces,
// or a value starting with a quote). Blank lines and lines starting with #
// are ignored; a # elsewhere is part of the value. An unknown name, a name
// given twice, a line without "=" or a bad value is an error naming the
// line. A new dependency for YAML or TOML would buy nothing here: every
// setting is one flag value.

// configFlag is the name of the flag, and of the variable, naming the file.
const configFlag = "config"

// applyConfig sets fs's flags from the config file that args or the
// environment name, if any. It parses them once on a scratch flag set to
// learn the file's name: the flags proper must be set from the file
// before the environment and the command line override it.
func applyConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	scratch := serveFlags(new(serveOptions))
	if err := applyEnv(scratch, lookupEnv); err != nil {
		return err
	}
	if err := scratch.Parse(args); err != nil {
		return err
	}
	path := scratch.Lookup(configFlag).Value.String()
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--%s: %w", configFlag, err)
	}
	defer f.Close()
	if err := readConfig(fs, f); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// maxConfigLine bounds one line of a config file: anything longer is not
// a setting.
const maxConfigLine = 64 << 10

// readConfig sets fs's flags from the settings in r.
func readConfig(fs *flag.FlagSet, r io.Reader) error {
	seen := make(map[string]int) // name -> line it was set on
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxConfigLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("line %d: want name = value, not %q", n, line)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.HasPrefix(value, `"`) {
			v, err := strconv.Unquote(value)
			if err != nil {
				return fmt.Errorf("line %d: bad quoted value %s", n, value)
			}
			value = v
		}
		if name == configFlag || fs.Lookup(name) == nil {
			return fmt.Errorf("line %d: unknown key %q", n, name)
		}
		if first, dup := seen[name]; dup {
			return fmt.Errorf("line %d: %s is already set on line %d", n, name, first)
		}
		seen[name] = n
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("line %d: invalid value %q for %s: %v", n, value, name, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("a line is longer than %d bytes", maxConfigLine)
		}
		return err
	}
	return nil
}
