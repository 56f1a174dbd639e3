package acl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// compileConcurrency bounds the ListObjects calls (one per user and
// distinct required relation) a compile has in flight.
const compileConcurrency = 8

// Compiler turns relations plus device services into a Table of port ACLs
// and keeps the current one in an atomic snapshot.
//
// Table is safe to call from any goroutine at any time (the hot path of
// opening a flow). Compile, Recompile, RecompileAll and TuplesChanged are
// serialised: one writer publishes a new Table at a time; the previous Table
// stays current until the new one is complete, and after an error.
//
// Keeping it current: after writing tuples, pass them to TuplesChanged (or
// map each to users with Affected and call Recompile). A change of device
// services, or of the set of users, calls Compile again. Affected and
// Explain only read, and may run concurrently with anything.
type Compiler struct {
	authz Authorizer
	log   *slog.Logger
	table atomic.Pointer[Table]

	mu sync.Mutex // serialises builds
	// guarded by mu
	users    map[string]struct{} // every user compiled for
	services *serviceIndex
}

// NewCompiler returns a Compiler asking a. Until the first Compile its
// Table allows nothing. log nil discards.
func NewCompiler(a Authorizer, log *slog.Logger) *Compiler {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Compiler{authz: a, log: log, users: map[string]struct{}{}, services: newServiceIndex(nil)}
	c.table.Store(newTable(c.services))
	return c
}

// Table returns the current snapshot; never nil.
func (c *Compiler) Table() *Table { return c.table.Load() }

// Compile rebuilds the whole table for users (plain ids) and services, and
// publishes it. It costs one ListObjects per user per distinct relation the
// services require.
func (c *Compiler) Compile(ctx context.Context, users []string, services []Service) (*Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	idx := newServiceIndex(services)
	set := userSet(users)
	entries, err := c.entries(ctx, set, idx)
	if err != nil {
		return nil, err
	}
	prev := c.table.Load()
	t := newTable(idx).withUsers(entries)
	t.changed = diffPorts(prev.ports, t.ports)
	c.users, c.services = set, idx
	c.table.Store(t)
	c.log.Info("compiled port ACLs", "users", len(set), "devices", len(idx.byDevice), "services", len(services),
		"changed_devices", len(t.changed), "took", time.Since(start))
	return t, nil
}

// Recompile rebuilds the entries of the given users only (adding users
// the compiler did not know) and publishes the result.
func (c *Compiler) Recompile(ctx context.Context, users []string) (*Table, error) {
	return c.recompile(ctx, users, false)
}

// RecompileAll rebuilds every known user's entries with the current
// services: what a structure change (a device or folder moved) needs.
func (c *Compiler) RecompileAll(ctx context.Context) (*Table, error) {
	return c.recompile(ctx, nil, true)
}

// TuplesChanged recompiles what writing or deleting ts affects (see
// Affected). Call it after the write.
func (c *Compiler) TuplesChanged(ctx context.Context, ts []Tuple) (*Table, error) {
	var users []string
	all := false
	for _, t := range ts {
		u, a, err := c.Affected(ctx, t)
		if err != nil {
			return nil, err
		}
		users, all = append(users, u...), all || a
	}
	if len(users) == 0 && !all {
		return c.Table(), nil
	}
	return c.recompile(ctx, users, all)
}

// recompile rebuilds users' entries, and every known user's too when all.
func (c *Compiler) recompile(ctx context.Context, users []string, all bool) (*Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := userSet(users)
	if all {
		maps.Copy(set, c.users)
	}
	return c.recompileLocked(ctx, set)
}

func (c *Compiler) recompileLocked(ctx context.Context, users map[string]struct{}) (*Table, error) {
	start := time.Now()
	entries, err := c.entries(ctx, users, c.services)
	if err != nil {
		return nil, err
	}
	t := c.table.Load().withUsers(entries)
	maps.Copy(c.users, users)
	c.table.Store(t)
	c.log.Debug("recompiled port ACLs", "users", len(users), "changed_devices", len(t.changed), "took", time.Since(start))
	return t, nil
}

func userSet(users []string) map[string]struct{} {
	set := make(map[string]struct{}, len(users))
	for _, u := range users {
		set[u] = struct{}{}
	}
	return set
}

// entries computes the allowed (device, port) set of each user: one
// ListObjects per (user, relation), compileConcurrency at a time.
func (c *Compiler) entries(ctx context.Context, users map[string]struct{}, idx *serviceIndex) (map[string]map[devicePort]struct{}, error) {
	var mu sync.Mutex
	out := make(map[string]map[devicePort]struct{}, len(users))
	for u := range users {
		out[u] = map[devicePort]struct{}{}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(compileConcurrency)
	for _, u := range slices.Sorted(maps.Keys(users)) {
		for _, rel := range idx.relations {
			g.Go(func() error {
				devices, err := c.devicesWith(gctx, u, rel, idx)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, obj := range devices {
					id := idOf(TypeDevice, obj)
					for _, p := range idx.byRelation[rel][id] {
						out[u][devicePort{id, p}] = struct{}{}
					}
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("compiling port ACLs: %w", err)
	}
	return out, nil
}

// devicesWith lists the devices on which user holds rel. When the server
// truncated the list, it checks each device with a service requiring rel
// instead.
func (c *Compiler) devicesWith(ctx context.Context, user, rel string, idx *serviceIndex) ([]string, error) {
	devices, err := c.authz.ListObjects(ctx, User(user), rel, TypeDevice)
	if !errors.Is(err, ErrTruncated) {
		return devices, err
	}
	c.log.Warn("openfga truncated a list; checking devices one by one", "user_id", user, "relation", rel)
	devices = devices[:0]
	for _, id := range slices.Sorted(maps.Keys(idx.byRelation[rel])) {
		ok, err := c.authz.Check(ctx, Tuple{User: User(user), Relation: rel, Object: Device(id)})
		if err != nil {
			return nil, err
		}
		if ok {
			devices = append(devices, Device(id))
		}
	}
	return devices, nil
}
