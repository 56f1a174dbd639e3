package acl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/openfga/pkg/logger"
	"github.com/openfga/openfga/pkg/server"
	"github.com/openfga/openfga/pkg/storage"
	"github.com/openfga/openfga/pkg/storage/memory"
	"github.com/openfga/openfga/pkg/storage/migrate"
	"github.com/openfga/openfga/pkg/storage/postgres"
	"github.com/openfga/openfga/pkg/storage/sqlcommon"
	"github.com/openfga/openfga/pkg/storage/sqlite"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Datastore kinds of EmbeddedConfig.
const (
	DatastoreMemory   = "memory"
	DatastoreSQLite   = "sqlite"
	DatastorePostgres = "postgres"
)

// MaxTuplesPerWrite bounds one Embedded.Write call (writes plus deletes): a
// write is one transaction. An external OpenFGA has its own bound (100 by
// default).
const MaxTuplesPerWrite = 1000

// ErrClosed is returned by an Embedded used after Close.
var ErrClosed = errors.New("acl: authorizer closed")

// EmbeddedConfig configures an OpenFGA server running inside the engine.
type EmbeddedConfig struct {
	// Datastore is DatastoreMemory (the default: tuples live and die with
	// the process), DatastoreSQLite or DatastorePostgres.
	Datastore string
	// URI locates the database: for SQLite a file path ("sqlite://" and
	// "file:" prefixes accepted), for PostgreSQL a postgres:// URL. It may be
	// the engine's own database: OpenFGA's tables (store, tuple,
	// authorization_model, assertion, changelog, goose_db_version) do not
	// clash with Warren's. OpenFGA's migrations run on every start.
	URI string
	// StoreName names the OpenFGA store; "" is DefaultStoreName.
	StoreName string
	// Logger receives lifecycle events and OpenFGA's own logs; nil discards.
	Logger *slog.Logger
}

// Embedded is OpenFGA running in process, called directly (no gRPC, no
// HTTP). OpenFGA's caches stay off and every read asks for
// HIGHER_CONSISTENCY, so a Write is visible to the very next call (what
// revocation needs). It is safe for concurrent use; Close releases the
// server and its database connections.
type Embedded struct {
	srv     *server.Server
	ds      storage.OpenFGADatastore // owned by srv, which closes it
	storeID string
	modelID string
	log     *slog.Logger

	closed    atomic.Bool
	closeOnce sync.Once
}

// NewEmbedded starts OpenFGA on cfg's datastore, running its migrations,
// then finds or creates the store and writes the model when the stored one
// differs from model.fga.
func NewEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fl := fgaLogger(log)
	ds, err := openDatastore(cfg, fl)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServerWithOpts(
		server.WithDatastore(ds),
		server.WithLogger(fl),
		// The compiler needs complete answers: no silent truncation by
		// result count or deadline.
		server.WithListObjectsMaxResults(0),
		server.WithListObjectsDeadline(0),
		server.WithListUsersMaxResults(0),
		server.WithListUsersDeadline(0),
	)
	if err != nil {
		ds.Close()
		return nil, fmt.Errorf("starting openfga: %w", err)
	}
	e := &Embedded{srv: srv, ds: ds, log: log}
	name := cmpOr(cfg.StoreName, DefaultStoreName)
	if e.storeID, e.modelID, err = bootstrap(ctx, embeddedStore{srv}, name, log); err != nil {
		srv.Close()
		return nil, err
	}
	log.Info("openfga embedded", "datastore", cmpOr(cfg.Datastore, DatastoreMemory), "store_id", e.storeID, "model_id", e.modelID)
	return e, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func openDatastore(cfg EmbeddedConfig, fl logger.Logger) (storage.OpenFGADatastore, error) {
	kind := cmpOr(cfg.Datastore, DatastoreMemory)
	if kind == DatastoreMemory {
		return memory.New(memory.WithMaxTuplesPerWrite(MaxTuplesPerWrite)), nil
	}
	uri, err := datastoreURI(kind, cfg.URI)
	if err != nil {
		return nil, err
	}
	if err := runMigrations(kind, uri, fl); err != nil {
		return nil, err
	}
	dsCfg := sqlcommon.NewConfig(
		sqlcommon.WithLogger(fl),
		sqlcommon.WithMaxTuplesPerWrite(MaxTuplesPerWrite),
		sqlcommon.WithPingTimeout(5*time.Second),
		sqlcommon.WithPingRetryMaxElapsedTime(30*time.Second),
	)
	var ds storage.OpenFGADatastore
	if kind == DatastoreSQLite {
		ds, err = sqlite.New(uri, dsCfg)
	} else {
		ds, err = postgres.New(uri, dsCfg)
	}
	if err != nil {
		return nil, fmt.Errorf("opening openfga %s datastore: %w", kind, err)
	}
	return ds, nil
}

// datastoreURI validates and normalises cfg.URI for OpenFGA.
func datastoreURI(kind, uri string) (string, error) {
	if uri == "" {
		return "", fmt.Errorf("openfga %s datastore: empty URI", kind)
	}
	switch kind {
	case DatastorePostgres:
		return uri, nil
	case DatastoreSQLite:
		uri = strings.TrimPrefix(uri, "sqlite://")
		if !strings.Contains(uri, "busy_timeout") {
			// The file is shared with the engine's own store: wait for
			// its writers instead of OpenFGA's default 100 ms.
			uri += sep(uri) + "_pragma=busy_timeout(5000)"
		}
		return uri, nil
	}
	return "", fmt.Errorf("unknown openfga datastore %q (want memory, sqlite or postgres)", kind)
}

func sep(uri string) string {
	if strings.Contains(uri, "?") {
		return "&"
	}
	return "?"
}

// migrateMu serialises migrations: goose, which OpenFGA's migrations use,
// keeps its settings in package globals.
var migrateMu sync.Mutex

func runMigrations(kind, uri string, fl logger.Logger) error {
	migrateMu.Lock()
	defer migrateMu.Unlock()
	err := migrate.RunMigrations(migrate.MigrationConfig{
		Engine:      kind,
		URI:         uri,
		Timeout:     30 * time.Second,
		PingTimeout: 5 * time.Second,
		Logger:      fl,
	})
	if err != nil {
		return fmt.Errorf("migrating openfga %s datastore: %w", kind, err)
	}
	return nil
}

// StoreID returns the OpenFGA store in use.
func (e *Embedded) StoreID() string { return e.storeID }

// ModelID returns the authorization model in use.
func (e *Embedded) ModelID() string { return e.modelID }

// Close stops the server and closes its datastore. It is idempotent; calls
// made after Close return ErrClosed.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		e.srv.Close()
	})
	return nil
}

// Check reports whether t.User has t.Relation on t.Object.
func (e *Embedded) Check(ctx context.Context, t Tuple) (bool, error) {
	if e.closed.Load() {
		return false, ErrClosed
	}
	resp, err := e.srv.Check(ctx, &openfgav1.CheckRequest{
		StoreId:              e.storeID,
		AuthorizationModelId: e.modelID,
		TupleKey:             &openfgav1.CheckRequestTupleKey{User: t.User, Relation: t.Relation, Object: t.Object},
		Consistency:          openfgav1.ConsistencyPreference_HIGHER_CONSISTENCY,
	})
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", t, err)
	}
	return resp.GetAllowed(), nil
}

// Write adds writes and removes deletes in one transaction. Writing a tuple
// that exists or deleting one that does not is not an error, so sync can
// replay. At most MaxTuplesPerWrite tuples per call.
func (e *Embedded) Write(ctx context.Context, writes, deletes []Tuple) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if len(writes)+len(deletes) == 0 {
		return nil
	}
	req := &openfgav1.WriteRequest{StoreId: e.storeID, AuthorizationModelId: e.modelID}
	if len(writes) > 0 {
		req.Writes = &openfgav1.WriteRequestWrites{TupleKeys: tupleKeys(writes), OnDuplicate: "ignore"}
	}
	if len(deletes) > 0 {
		req.Deletes = &openfgav1.WriteRequestDeletes{TupleKeys: deleteKeys(deletes), OnMissing: "ignore"}
	}
	if _, err := e.srv.Write(ctx, req); err != nil {
		return fmt.Errorf("writing %d tuples, deleting %d: %w", len(writes), len(deletes), err)
	}
	return nil
}

func tupleKeys(ts []Tuple) []*openfgav1.TupleKey {
	out := make([]*openfgav1.TupleKey, len(ts))
	for i, t := range ts {
		out[i] = &openfgav1.TupleKey{User: t.User, Relation: t.Relation, Object: t.Object}
	}
	return out
}

func deleteKeys(ts []Tuple) []*openfgav1.TupleKeyWithoutCondition {
	out := make([]*openfgav1.TupleKeyWithoutCondition, len(ts))
	for i, t := range ts {
		out[i] = &openfgav1.TupleKeyWithoutCondition{User: t.User, Relation: t.Relation, Object: t.Object}
	}
	return out
}

// ListObjects returns every object of objectType on which user has
// relation, complete (the embedded server caps neither count nor time).
func (e *Embedded) ListObjects(ctx context.Context, user, relation, objectType string) ([]string, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	resp, err := e.srv.ListObjects(ctx, &openfgav1.ListObjectsRequest{
		StoreId:              e.storeID,
		AuthorizationModelId: e.modelID,
		User:                 user,
		Relation:             relation,
		Type:                 objectType,
		Consistency:          openfgav1.ConsistencyPreference_HIGHER_CONSISTENCY,
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s objects %s can %s: %w", objectType, user, relation, err)
	}
	return resp.GetObjects(), nil
}

// ListUsers returns the users of userType ("user", or "group" for groups
// whose members hold it) that have relation on object, expanding groups:
// "user:usr_alice", "group:grp_ops".
func (e *Embedded) ListUsers(ctx context.Context, object, relation, userType string) ([]string, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	typ, id, _, ok := Split(object)
	if !ok {
		return nil, fmt.Errorf("listing users of %q: not a type:id object", object)
	}
	resp, err := e.srv.ListUsers(ctx, &openfgav1.ListUsersRequest{
		StoreId:              e.storeID,
		AuthorizationModelId: e.modelID,
		Object:               &openfgav1.Object{Type: typ, Id: id},
		Relation:             relation,
		UserFilters:          []*openfgav1.UserTypeFilter{{Type: userType}},
		Consistency:          openfgav1.ConsistencyPreference_HIGHER_CONSISTENCY,
	})
	if err != nil {
		return nil, fmt.Errorf("listing users with %s on %s: %w", relation, object, err)
	}
	out := make([]string, 0, len(resp.GetUsers()))
	for _, u := range resp.GetUsers() {
		if o := u.GetObject(); o != nil {
			out = append(out, Object(o.GetType(), o.GetId()))
		}
	}
	return out, nil
}

// Read returns the stored tuples matching filter, following OpenFGA's Read
// rules: an all-empty filter matches every tuple; otherwise Object is
// required, either "type:id" or "type:" (every object of the type, which
// then needs User), and User and Relation narrow the match.
func (e *Embedded) Read(ctx context.Context, filter Tuple) ([]Tuple, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	var out []Tuple
	token := ""
	for {
		resp, err := e.srv.Read(ctx, &openfgav1.ReadRequest{
			StoreId:           e.storeID,
			TupleKey:          readKey(filter),
			PageSize:          wrapperspb.Int32(100),
			ContinuationToken: token,
			Consistency:       openfgav1.ConsistencyPreference_HIGHER_CONSISTENCY,
		})
		if err != nil {
			return nil, fmt.Errorf("reading tuples %s: %w", filter, err)
		}
		for _, t := range resp.GetTuples() {
			k := t.GetKey()
			out = append(out, Tuple{User: k.GetUser(), Relation: k.GetRelation(), Object: k.GetObject()})
		}
		if token = resp.GetContinuationToken(); token == "" {
			return out, nil
		}
	}
}

func readKey(f Tuple) *openfgav1.ReadRequestTupleKey {
	if f == (Tuple{}) {
		return nil
	}
	return &openfgav1.ReadRequestTupleKey{User: f.User, Relation: f.Relation, Object: f.Object}
}

// embeddedStore gives bootstrap the server's store and model calls.
type embeddedStore struct{ srv *server.Server }

func (s embeddedStore) storeIDs(ctx context.Context, name string) ([]string, error) {
	var ids []string
	token := ""
	for {
		resp, err := s.srv.ListStores(ctx, &openfgav1.ListStoresRequest{
			PageSize: wrapperspb.Int32(100), ContinuationToken: token, Name: name,
		})
		if err != nil {
			return nil, err
		}
		for _, st := range resp.GetStores() {
			if st.GetName() == name {
				ids = append(ids, st.GetId())
			}
		}
		if token = resp.GetContinuationToken(); token == "" {
			return ids, nil
		}
	}
}

func (s embeddedStore) createStore(ctx context.Context, name string) (string, error) {
	resp, err := s.srv.CreateStore(ctx, &openfgav1.CreateStoreRequest{Name: name})
	return resp.GetId(), err
}

func (s embeddedStore) deleteStore(ctx context.Context, id string) error {
	_, err := s.srv.DeleteStore(ctx, &openfgav1.DeleteStoreRequest{StoreId: id})
	return err
}

func (s embeddedStore) latestModel(ctx context.Context, storeID string) (*openfgav1.AuthorizationModel, error) {
	resp, err := s.srv.ReadAuthorizationModels(ctx, &openfgav1.ReadAuthorizationModelsRequest{
		StoreId: storeID, PageSize: wrapperspb.Int32(1),
	})
	if err != nil {
		return nil, err
	}
	if ms := resp.GetAuthorizationModels(); len(ms) > 0 {
		return ms[0], nil
	}
	return nil, nil
}

func (s embeddedStore) writeModel(ctx context.Context, storeID string, m *openfgav1.AuthorizationModel) (string, error) {
	resp, err := s.srv.WriteAuthorizationModel(ctx, &openfgav1.WriteAuthorizationModelRequest{
		StoreId:         storeID,
		TypeDefinitions: m.GetTypeDefinitions(),
		SchemaVersion:   m.GetSchemaVersion(),
		Conditions:      m.GetConditions(),
	})
	return resp.GetAuthorizationModelId(), err
}
