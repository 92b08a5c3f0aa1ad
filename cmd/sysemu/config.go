package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Every serve flag is also a config-file key (dashes become underscores:
// --data-dir is data_dir) and an environment variable (SYSEMU_DATA_DIR).
// Precedence: flags > environment > file > defaults.

const configEnv = "SYSEMU_CONFIG"

func envName(flagName string) string {
	return "SYSEMU_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func fileKey(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// settle parses args into fs, then fills every flag not given on the command
// line from the environment, else from the config file (--config or
// $SYSEMU_CONFIG).
func settle(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	path := fs.Lookup("config").Value.String()
	if path == "" {
		path = os.Getenv(configEnv)
	}
	file := map[string]any{}
	if path != "" {
		md, err := toml.DecodeFile(path, &file)
		if err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		_ = md
	}
	for key := range file {
		if f := fs.Lookup(strings.ReplaceAll(key, "_", "-")); f == nil || f.Name == "config" {
			return fmt.Errorf("config file %s: unknown key %q", path, key)
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || f.Name == "config" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
			return
		}
		if v, ok := file[fileKey(f.Name)]; ok {
			if err := f.Value.Set(fmt.Sprint(v)); err != nil {
				errs = append(errs, fmt.Errorf("%s in %s: %w", fileKey(f.Name), path, err))
			}
		}
	})
	return errors.Join(errs...)
}

// secretFlags are printed as "<set>" by `config print`.
var secretFlags = map[string]bool{"password": true, "http-token": true}

// configPrint is `sysemu config print [serve flags]`: the effective serve
// settings as a TOML file, each with its help line.
func configPrint(w io.Writer, args []string) error {
	f := newServeFlags()
	if err := settle(f.fs, args); err != nil {
		return err
	}
	var names []string
	f.fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name != "config" {
			names = append(names, fl.Name)
		}
	})
	sort.Strings(names)
	fmt.Fprintln(w, "# sysemu serve settings: flags > SYSEMU_* environment > this file > defaults")
	for _, name := range names {
		fl := f.fs.Lookup(name)
		v := fl.Value.String()
		if secretFlags[name] && v != "" {
			v = "<set>"
		}
		fmt.Fprintf(w, "\n# %s (env %s)\n%s = %s\n", fl.Usage, envName(name), fileKey(name), tomlValue(fl, v))
	}
	return nil
}

func tomlValue(fl *flag.Flag, v string) string {
	if g, ok := fl.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool, int, int64, uint, uint64, float64:
			return v
		}
	}
	return fmt.Sprintf("%q", v)
}

func configCmd(args []string) error {
	if len(args) < 1 || args[0] != "print" {
		return fmt.Errorf("usage: sysemu config print [serve flags]")
	}
	return configPrint(os.Stdout, args[1:])
}
