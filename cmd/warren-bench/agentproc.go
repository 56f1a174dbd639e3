package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/warrenhq/warren/agent"
)

// The session benchmark runs the agent in a child process (this same
// binary, told so by envAgentChild) so that the memory of each side is
// measured apart: in one process the engine's and the agent's heaps are
// one heap. The child runs the agent and answers each "mem" line on its
// stdin with one memSample JSON line; it exits when its stdin closes.
const envAgentChild = "WARREN_BENCH_AGENT_STATE_DIR"

// memSample is a process's memory after a full GC.
type memSample struct {
	HeapAlloc  uint64 `json:"heap_alloc"`  // live heap objects, bytes
	StackInuse uint64 `json:"stack_inuse"` // goroutine stacks, bytes
	Goroutines int    `json:"goroutines"`
	RSS        uint64 `json:"rss"` // resident set, bytes (Linux; 0 elsewhere)
}

// readMem collects garbage and reads this process's memory.
func readMem() memSample {
	runtime.GC()
	runtime.GC() // a second cycle frees what finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{HeapAlloc: ms.HeapAlloc, StackInuse: ms.StackInuse, Goroutines: runtime.NumGoroutine(), RSS: rss()}
}

// rss is VmRSS from /proc/self/status.
func rss() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// agentChildMain runs the agent child and returns its exit code.
func agentChildMain(stateDir string) int {
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("WARREN_BENCH_VERBOSE") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("who", "agent")
	}
	a, err := agent.New(agent.Config{
		StateDir: stateDir, Logger: log, Version: "bench",
		ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "warren-bench agent: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.Run(ctx)
		cancel()
	}()
	lines := make(chan string)
	go func() { // ends with stdin; never waited for: the process exits
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	enc := json.NewEncoder(os.Stdout)
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			if line == "mem" {
				enc.Encode(readMem())
			}
		case <-ctx.Done(): // the agent stopped by itself
			break loop
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "warren-bench agent: %v\n", err)
		return 1
	}
	return 0
}

// agentProc is the parent's handle on the agent child.
type agentProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	exited chan error
}

// startAgentProc starts this binary as the agent of stateDir.
func startAgentProc(stateDir string, verbose bool) (*agentProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envAgentChild+"="+stateDir)
	if verbose {
		cmd.Env = append(cmd.Env, "WARREN_BENCH_VERBOSE=1")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the agent process: %w", err)
	}
	p := &agentProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout), exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	return p, nil
}

// Mem asks the child for its memory after a full GC.
func (p *agentProc) Mem() (memSample, error) {
	if _, err := io.WriteString(p.stdin, "mem\n"); err != nil {
		return memSample{}, fmt.Errorf("asking the agent process: %w", err)
	}
	if !p.out.Scan() {
		return memSample{}, fmt.Errorf("the agent process did not answer: %v", p.out.Err())
	}
	var m memSample
	if err := json.Unmarshal(p.out.Bytes(), &m); err != nil {
		return memSample{}, fmt.Errorf("decoding the agent's memory: %w", err)
	}
	return m, nil
}

// Close ends the child (closing its stdin stops it cleanly; it is killed
// after 30 s) and waits for it.
func (p *agentProc) Close() error {
	p.stdin.Close()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return errors.New("the agent process did not stop within 30s; killed")
	}
}
