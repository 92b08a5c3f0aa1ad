package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sysemu/sysemu/seed"
)

func (c clientFlags) dsn() string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = c.user, c.password, "tcp", c.mysqlAddr
	cfg.InterpolateParams = true
	return cfg.FormatDSN()
}

// applyScenario runs a scenario's statements in order on one connection.
func applyScenario(ctx context.Context, c clientFlags, name string) error {
	stmts, err := seed.Scenario(name)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", c.dsn())
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("scenario %s: %s: %w", name, s, err)
		}
	}
	return nil
}

// waitAndApply waits for the local server to accept connections, then
// applies the scenario.
func waitAndApply(ctx context.Context, c clientFlags, name string, served <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, _ := sql.Open("mysql", c.dsn())
		err := db.PingContext(ctx)
		db.Close()
		if err == nil {
			return applyScenario(ctx, c, name)
		}
		select {
		case err := <-served:
			return fmt.Errorf("server stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not reachable at %s: %w", c.mysqlAddr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func seedCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("seed: expected list or apply NAME")
	}
	switch args[0] {
	case "list":
		for _, n := range seed.Scenarios() {
			fmt.Println(n)
		}
		return nil
	case "apply":
		fs := flag.NewFlagSet("seed apply", flag.ContinueOnError)
		var cf clientFlags
		cf.register(fs)
		if len(args) < 2 {
			return errors.New("seed apply: expected a scenario NAME")
		}
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		return applyScenario(context.Background(), cf, args[1])
	}
	return fmt.Errorf("seed: unknown subcommand %q", args[0])
}

func snapshotCmd(args []string) error {
	if len(args) < 2 || (args[0] != "save" && args[0] != "restore") {
		return errors.New("snapshot: expected save FILE or restore FILE [--force]")
	}
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	force := fs.Bool("force", false, "restore into a target that is not clean")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	file := args[1]
	base := "http://" + cf.httpAddr + "/admin/snapshot"
	if args[0] == "save" {
		if _, err := os.Stat(file); err == nil {
			return fmt.Errorf("The file '%s' already exists. Please choose a different name or remove the existing file before proceeding.", file)
		}
		body, err := call(cf, "GET", base, nil)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(body); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Printf("saved metadata snapshot to %s\n", file)
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	body, err := call(cf, "POST", fmt.Sprintf("%s/restore?force=%v", base, *force), data)
	if err != nil {
		return err
	}
	fmt.Println(strings.TrimSpace(string(body)))
	return nil
}

// call sends one admin API request with the administrator's credentials.
func call(cf clientFlags, method, url string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(cf.user, cf.password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(out)))
	}
	return out, nil
}
