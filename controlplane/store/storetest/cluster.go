package storetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cluster is a throwaway PostgreSQL cluster in a temp dir, owned by this
// test binary. It runs postgres directly rather than through pg_ctl, which
// would detach it: as our child, it gets a parent-death signal, so a test
// binary that crashes or times out never leaves a server behind.
type cluster struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{} // closed once postgres has exited
}

const ownerFile = "owner.pid"

// findPostgres returns the directory of initdb and postgres, or why there
// is none. The newest /usr/lib/postgresql/<version>/bin wins, then PATH.
func findPostgres() (bin, skip string) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, ""
		}
	}
	return "", "no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or PATH"
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// credential returns the postgres system user's credential when running as
// root (initdb and postgres refuse to run as root), nil otherwise.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, which PostgreSQL refuses, and no postgres system user to run it as: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func startCluster(ctx context.Context, bin string, cred *syscall.Credential) (*cluster, error) {
	removeStaleClusters()
	dir, err := os.MkdirTemp(clusterParent(), "warren-pg-")
	if err != nil {
		return nil, err
	}
	if err := initCluster(ctx, bin, dir, cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// A port picked free can be taken before postgres binds it: try again.
	for attempt := 1; ; attempt++ {
		c, err := launch(ctx, bin, dir, cred)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			if err != nil {
				os.RemoveAll(dir)
			}
			return c, err
		}
	}
}

// initCluster fills dir/data with a fresh cluster: a copy of a pristine
// one cached beside dir when there is one (initdb takes seconds, the copy a
// tenth of that; every test binary starts a cluster), else initdb, whose
// result then fills the cache.
func initCluster(ctx context.Context, bin, dir string, cred *syscall.Credential) error {
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(dir, "data")
	cache := filepath.Join(filepath.Dir(dir), "warren-pgcache-"+cacheKey(bin, cred))
	if err := copyTree(cache, data, cred); err == nil {
		return nil
	}
	os.RemoveAll(data)
	if err := initdb(ctx, bin, data, cred); err != nil {
		return err
	}
	tmp := cache + ".tmp-" + randomHex(4)
	if err := copyTree(data, tmp, cred); err != nil || os.Rename(tmp, cache) != nil {
		os.RemoveAll(tmp) // another test binary filled the cache first
	}
	return nil
}

func cacheKey(bin string, cred *syscall.Credential) string {
	h := sha256.New()
	fmt.Fprintf(h, "v1\x00%s\x00%d", bin, os.Geteuid())
	if cred != nil {
		fmt.Fprintf(h, "\x00%d", cred.Uid)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func initdb(ctx context.Context, bin, data string, cred *syscall.Credential) error {
	// An ICU en-US default collation, like a typical production database,
	// so that queries relying on byte order fail here too. Without ICU
	// support, plain C.
	args := []string{"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"}
	icu := []string{"--locale-provider=icu", "--icu-locale=en-US"}
	err := runAs(ctx, cred, filepath.Join(bin, "initdb"), append(args, icu...)...)
	if err != nil {
		os.RemoveAll(data)
		err = runAs(ctx, cred, filepath.Join(bin, "initdb"), args...)
	}
	return err
}

// copyTree copies the directory tree src (directories and regular files
// only) to dst, which must not exist, keeping modes and giving it to cred.
func copyTree(src, dst string, cred *syscall.Credential) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			err = os.Mkdir(target, info.Mode().Perm())
		case d.Type().IsRegular():
			err = copyFile(path, target, info.Mode().Perm())
		default:
			return fmt.Errorf("copying %s: not a regular file or directory", path)
		}
		if err == nil && cred != nil {
			err = os.Lchown(target, int(cred.Uid), int(cred.Gid))
		}
		return err
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

func runAs(ctx context.Context, cred *syscall.Credential, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, out)
	}
	return nil
}

// launch starts postgres on a free port and waits until it accepts
// connections.
func launch(ctx context.Context, bin, dir string, cred *syscall.Credential) (*cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	c := &cluster{dir: dir, port: port, exited: make(chan struct{})}
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=300",
		// Durability is worthless for a throwaway cluster; speed is not.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true, // keep the terminal's ^C away: we stop it ourselves
		// SIGINT is a fast shutdown. The kernel sends it when the thread
		// that started postgres exits, so that thread must live as long
		// as this process: see run.
		Pdeathsig: syscall.SIGINT,
	}
	started := make(chan error, 1)
	go c.run(cmd, started)
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	c.cmd = cmd
	if err := c.waitReady(ctx); err != nil {
		c.stopProcess()
		return nil, err
	}
	return c, nil
}

// run starts postgres and waits for it to exit, on a thread of its own
// that lives exactly as long (see Pdeathsig).
func (c *cluster) run(cmd *exec.Cmd, started chan<- error) {
	runtime.LockOSThread() // never unlocked
	if err := cmd.Start(); err != nil {
		started <- err
		return
	}
	started <- nil
	cmd.Wait()
	close(c.exited)
}

// clusterParent is where clusters live: in memory (/dev/shm) where there
// is one, which makes initdb and CREATE DATABASE several times faster.
func clusterParent() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && fi.Mode().Perm()&0o002 != 0 {
		return "/dev/shm"
	}
	return os.TempDir()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// waitReady polls until the server accepts connections.
func (c *cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", c.url())
	if err != nil {
		return err
	}
	defer db.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		err := db.PingContext(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited:\n%s", c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w (last error %v)\n%s", ctx.Err(), err, c.logTail())
		case <-tick.C:
		}
	}
}

// stop shuts postgres down and removes the cluster.
func (c *cluster) stop() error {
	return errors.Join(c.stopProcess(), os.RemoveAll(c.dir))
}

// stopProcess shuts postgres down: fast, then hard.
func (c *cluster) stopProcess() error {
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
		return nil
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
		return errors.New("postgres did not shut down in 15s; killed")
	}
}

func (c *cluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// removeStaleClusters removes the directories of clusters whose test
// binary is gone (crashed or killed: Pdeathsig stopped their server, but
// nothing removed the files).
func removeStaleClusters() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "warren-pg-*"))
	if shm, _ := filepath.Glob("/dev/shm/warren-pg-*"); len(shm) > 0 {
		dirs = append(dirs, shm...)
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) || serverAlive(d) {
			continue
		}
		os.RemoveAll(d)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// serverAlive reports whether the cluster's postmaster still runs.
func serverAlive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return err == nil && processAlive(pid)
}
