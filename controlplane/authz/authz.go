// Package authz keeps OpenFGA in step with the database, and the compiled
// port ACLs in step with both. Every change to a row that OpenFGA mirrors
// (memberships, group members, folders, device placement, grants) goes
// through a Service, which writes the row and its tuples as one logical
// operation and then recompiles the port ACLs of the users it affects.
// Sync rebuilds the tuples from the database (`warren openfga sync`, and
// the repair after a failure); Rebuild compiles the whole table from the
// store.
//
// # Ordering
//
// A change that only adds access (a grant, a new member, a new folder)
// writes the database first, then the tuples; if the tuples cannot be
// written it undoes the database write. A change that removes any tuple (a
// revocation, a removal, a move, a demotion) deletes the tuples first,
// then writes the database; if the database refuses (ErrInvalid,
// ErrConflict) the tuples are restored. Either way a failure half-way
// leaves at worst an extra deny, never an extra allow: a stale deny is
// safe, a stale allow is not. When an undo or a restore itself fails, or
// the database's answer is unknown (or a row vanished under another
// writer), the Service logs at Error and marks itself Dirty; the next Sync
// repairs OpenFGA from the database, which is the source of truth. Once its
// first write is done, an operation runs to its end even if the caller's
// context is cancelled.
//
// Before any write, an operation reads what it touches through the store's
// org-scoped methods, so no organization can write or delete another's
// tuples, even for a moment. A tuple two rows imply (a user's admin
// membership and a grant of admin on the organization to that user) is
// deleted only when neither row remains.
//
// After the writes, the port ACLs of the users the change affects are
// recompiled (acl.Compiler.Affected; everyone for a structure change) before
// the method returns, and OnChange listeners learn who lost what.
//
// Within one process, operations are serialised. Across engine replicas
// they are not: run Sync at start-up and whenever Dirty reports true.
//
// authz imports acl and store; it must never import the API or the engine.
package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenhq/warren/acl"
	"github.com/warrenhq/warren/controlplane/store"
)

// Tuples is what a Service needs from OpenFGA: an acl.Authorizer that can
// also write. *acl.Embedded and *acl.Remote implement it.
type Tuples interface {
	acl.Authorizer
	// Write adds writes and removes deletes in one transaction; writing a
	// tuple that exists or deleting one that does not is not an error.
	Write(ctx context.Context, writes, deletes []acl.Tuple) error
}

var (
	_ Tuples = (*acl.Embedded)(nil)
	_ Tuples = (*acl.Remote)(nil)
)

// Store is the part of *store.Store a Service reads and writes.
type Store interface {
	ListOrgs(ctx context.Context) ([]store.Org, error)
	DeleteOrg(ctx context.Context, id string) error

	AddMember(ctx context.Context, m store.Membership) (store.Membership, error)
	GetMembership(ctx context.Context, orgID, userID string) (store.Membership, error)
	SetMemberRole(ctx context.Context, orgID, userID, role string) error
	RemoveMember(ctx context.Context, orgID, userID string) error
	ListMembers(ctx context.Context, orgID string) ([]store.Membership, error)

	GetGroup(ctx context.Context, orgID, idOrName string) (store.Group, error)
	ListGroups(ctx context.Context, orgID string) ([]store.Group, error)
	DeleteGroup(ctx context.Context, orgID, id string) error
	AddGroupMember(ctx context.Context, orgID, groupID string, m store.GroupMember) error
	RemoveGroupMember(ctx context.Context, orgID, groupID string, m store.GroupMember) error
	ListGroupMembers(ctx context.Context, orgID, groupID string) ([]store.GroupMember, error)

	CreateFolder(ctx context.Context, f store.Folder) (store.Folder, error)
	GetFolder(ctx context.Context, orgID, id string) (store.Folder, error)
	ListFolders(ctx context.Context, orgID string) ([]store.Folder, error)
	MoveFolder(ctx context.Context, orgID, id, parentID string) error
	DeleteFolder(ctx context.Context, orgID, id string) error

	GetOrgDevice(ctx context.Context, orgID, idOrName string) (store.Device, error)
	ListOrgDevices(ctx context.Context, orgID string) ([]store.Device, error)
	SetDeviceFolder(ctx context.Context, orgID, deviceID, folderID string) error
	AssignDeviceOrg(ctx context.Context, deviceID, orgID, folderID string) error
	DeleteDevice(ctx context.Context, idOrName string) error
	ListAllServices(ctx context.Context) ([]store.Service, error)

	CreateGrant(ctx context.Context, g store.Grant) (store.Grant, error)
	GetGrant(ctx context.Context, orgID, id string) (store.Grant, error)
	DeleteGrant(ctx context.Context, orgID, id string) error
	ListGrants(ctx context.Context, orgID string, f store.GrantFilter) ([]store.Grant, error)
}

var _ Store = (*store.Store)(nil)

// ErrStale wraps the error of an operation whose database and tuple writes
// are done but whose recompile failed: the compiled table may still allow
// what the change revoked until Rebuild (or Sync) succeeds. Dirty reports
// true meanwhile.
var ErrStale = errors.New("authz: compiled port ACLs are stale")

// finishTimeout bounds the second half of an operation (and its undo),
// which runs even if the caller's context is cancelled.
const finishTimeout = 30 * time.Second

// maxBatch bounds one tuple write: an external OpenFGA accepts 100 by
// default. Larger changes (DeleteOrg, Sync) are written in several
// transactions.
const maxBatch = 100

// Service keeps OpenFGA and the compiled port ACLs in step with the store.
// It is safe for concurrent use. It owns no goroutine and needs no Close;
// the caller owns the store, the Tuples and the Compiler.
//
// Call Rebuild once after New (and whenever services change) so that the
// compiled table holds every org device's services.
type Service struct {
	store Store
	fga   Tuples
	comp  *acl.Compiler
	log   *slog.Logger

	// dirty is set when OpenFGA or the table may disagree with the
	// database; Sync clears it.
	dirty atomic.Bool

	// mu serialises operations and Sync: reading the rows a change
	// touches, then writing the database and the tuples.
	mu sync.Mutex

	// compileMu serialises recompiles with their notifications, so
	// listeners see changes in order.
	compileMu sync.Mutex
	// guarded by compileMu
	users    map[string]struct{} // every user compiled for
	services []acl.Service       // as last compiled

	cbMu sync.Mutex
	// guarded by cbMu
	listeners map[int]func(Change)
	nextID    int
}

// New returns a Service writing to st and fga and recompiling comp, which
// must ask fga. log nil discards.
func New(st Store, fga Tuples, comp *acl.Compiler, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{store: st, fga: fga, comp: comp, log: log, users: map[string]struct{}{}, listeners: map[int]func(Change){}}
}

// Dirty reports whether a failure may have left OpenFGA or the compiled
// table out of step with the database. Sync repairs both and clears it.
func (s *Service) Dirty() bool { return s.dirty.Load() }

// op is one logical operation: the tuples it writes and deletes and the
// database write they mirror.
type op struct {
	name            string // for errors and logs: "revoking grant grt_x"
	writes, deletes []acl.Tuple
	// db performs the database write. It may return more tuples to write:
	// those of a row whose id exists only once it is created. Only an
	// operation without deletes may do so.
	db func(ctx context.Context) (more []acl.Tuple, err error)
	// undo reverts a successful db when the tuples cannot be written; nil
	// when impossible (then the Service goes dirty).
	undo func(ctx context.Context) error
	// rebuild recompiles the whole table from the store afterwards (the
	// change adds or removes services), instead of the affected users.
	rebuild bool
	noop    bool // nothing to do: the database already says so
}

// outcome says what an applied op needs recompiled.
type outcome struct {
	touched bool // tuples may have changed
	users   []string
	all     bool
	rebuild bool
}

// run plans an operation under mu, applies it, then recompiles what it
// touched (even when it failed half-way, so the table never allows more
// than OpenFGA does).
func (s *Service) run(ctx context.Context, plan func(ctx context.Context) (op, error)) error {
	s.mu.Lock()
	o, err := plan(ctx)
	var out outcome
	if err == nil && !o.noop {
		out, err = s.apply(ctx, o)
	}
	s.mu.Unlock()
	if !out.touched {
		return err
	}
	ctx, cancel := finishContext(ctx)
	defer cancel()
	if cerr := s.settle(ctx, out); cerr != nil {
		s.dirty.Store(true)
		s.log.Error("recompiling port ACLs after a change failed; the table is stale until the next sync",
			"op", o.name, "err", cerr)
		return errors.Join(err, fmt.Errorf("%s: %w: %w", o.name, ErrStale, cerr))
	}
	return err
}

// finishContext is ctx without its cancellation, bounded by finishTimeout.
func finishContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
}

func (s *Service) apply(ctx context.Context, o op) (outcome, error) {
	o.writes, o.deletes = normalize(o.writes, o.deletes)
	if len(o.deletes) > 0 {
		return s.applyRevoking(ctx, o)
	}
	return s.applyGranting(ctx, o)
}

// applyGranting writes the database, then the tuples; it undoes the
// database write if the tuples fail.
func (s *Service) applyGranting(ctx context.Context, o op) (outcome, error) {
	more, err := o.db(ctx)
	if err != nil {
		return outcome{}, err
	}
	ctx, cancel := finishContext(ctx)
	defer cancel()
	writes, _ := normalize(append(o.writes, more...), nil)
	out := outcome{rebuild: o.rebuild}
	if err := s.write(ctx, writes, nil); err != nil {
		err = fmt.Errorf("%s: writing tuples: %w", o.name, err)
		out.touched = o.rebuild // the database changed for good; services may have too
		if o.undo == nil {
			s.markDirty(o.name, "the database change cannot be undone", err)
			return out, err
		}
		if uerr := o.undo(ctx); uerr != nil {
			s.markDirty(o.name, "undoing the database change failed", uerr)
			return out, errors.Join(err, fmt.Errorf("undoing: %w", uerr))
		}
		return outcome{}, err
	}
	out.touched = true
	out.users, out.all = s.affected(ctx, writes)
	return out, nil
}

// applyRevoking deletes (and writes) the tuples, then writes the database;
// it restores the tuples only when the database certainly refused.
func (s *Service) applyRevoking(ctx context.Context, o op) (outcome, error) {
	// Who the deletes affect must be read before they go: a group's
	// members are found through tuples the same write may delete.
	users, all, err := s.affectedStrict(ctx, o.deletes)
	if err != nil {
		return outcome{}, fmt.Errorf("%s: %w", o.name, err)
	}
	if err := s.write(ctx, o.writes, o.deletes); err != nil {
		err = fmt.Errorf("%s: writing tuples: %w", o.name, err)
		if len(o.writes)+len(o.deletes) <= maxBatch {
			return outcome{}, err // one transaction: nothing changed
		}
		// A batched write may have applied its first batches: recompile
		// what the deletes affect; the next Sync restores the rest.
		s.markDirty(o.name, "a batched tuple write failed half-way", err)
		return outcome{touched: true, users: users, all: all}, err
	}
	ctx, cancel := finishContext(ctx)
	defer cancel()
	more, _ := s.affected(ctx, o.writes)
	out := outcome{touched: true, users: append(users, more...), all: all, rebuild: o.rebuild}
	if _, err := o.db(ctx); err != nil {
		if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrConflict) {
			// The outcome is unknown, or a row vanished under a writer
			// outside this Service (ErrNotFound: restoring could revive
			// a revoked row's tuple): keep the safe deny.
			s.markDirty(o.name, "the database write failed after the tuples were deleted", err)
			return out, err
		}
		if rerr := s.write(ctx, o.deletes, o.writes); rerr != nil {
			s.markDirty(o.name, "restoring tuples after the database refused failed", rerr)
			return out, errors.Join(err, fmt.Errorf("restoring tuples: %w", rerr))
		}
		return out, err
	}
	return out, nil
}

func (s *Service) markDirty(name, what string, err error) {
	s.dirty.Store(true)
	s.log.Error("openfga is out of step with the database until the next sync: "+what, "op", name, "err", err)
}

// write writes in one transaction when it fits maxBatch, else deletes
// first (a partial failure then errs towards deny), in batches.
func (s *Service) write(ctx context.Context, writes, deletes []acl.Tuple) error {
	if len(writes)+len(deletes) <= maxBatch {
		return s.fga.Write(ctx, writes, deletes)
	}
	for _, b := range batches(deletes) {
		if err := s.fga.Write(ctx, nil, b); err != nil {
			return err
		}
	}
	for _, b := range batches(writes) {
		if err := s.fga.Write(ctx, b, nil); err != nil {
			return err
		}
	}
	return nil
}

func batches(ts []acl.Tuple) [][]acl.Tuple {
	var out [][]acl.Tuple
	for len(ts) > 0 {
		n := min(len(ts), maxBatch)
		out = append(out, ts[:n])
		ts = ts[n:]
	}
	return out
}

// affectedStrict maps tuples to the users whose entries they may change
// (see acl.Compiler.Affected).
func (s *Service) affectedStrict(ctx context.Context, ts []acl.Tuple) (users []string, all bool, err error) {
	for _, t := range ts {
		u, a, err := s.comp.Affected(ctx, t)
		if err != nil {
			return nil, false, fmt.Errorf("finding the users a change affects: %w", err)
		}
		if a {
			return nil, true, nil
		}
		users = append(users, u...)
	}
	return users, false, nil
}

// affected is affectedStrict falling back to everyone when OpenFGA cannot
// answer.
func (s *Service) affected(ctx context.Context, ts []acl.Tuple) (users []string, all bool) {
	users, all, err := s.affectedStrict(ctx, ts)
	if err != nil {
		s.log.Warn("recompiling every user", "err", err)
		return nil, true
	}
	return users, all
}
