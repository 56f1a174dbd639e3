package acl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	fgasdk "github.com/openfga/go-sdk"
	"github.com/openfga/go-sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// RemoteConfig configures a client of an external OpenFGA server.
type RemoteConfig struct {
	// URL is the server's HTTP API, e.g. "https://openfga.internal:8080".
	URL string
	// StoreID selects the store; "" finds the store named StoreName, or
	// creates it.
	StoreID string
	// StoreName is used when StoreID is ""; "" is DefaultStoreName.
	StoreName string
	// Token is the server's preshared key, sent as a bearer token; "" sends
	// none.
	Token string
	// ListObjectsMaxResults is the server's OPENFGA_LIST_OBJECTS_MAX_RESULTS
	// (0 means OpenFGA's default, 1000). An answer that long may have been
	// cut short, so ListObjects returns ErrTruncated with it and the
	// Compiler falls back to Check for that user.
	ListObjectsMaxResults int
	// HTTPClient carries the requests; nil is http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives lifecycle events; nil discards.
	Logger *slog.Logger
}

// Remote is an external OpenFGA reached through the go-sdk over HTTP. It is
// safe for concurrent use. The server's ListObjects deadline
// (OPENFGA_LIST_OBJECTS_DEADLINE) silently truncates answers: give it room
// (e.g. 30s) when Warren compiles port ACLs against it.
type Remote struct {
	c          *client.OpenFgaClient
	storeID    string
	modelID    string
	maxResults int
	hc         *http.Client // ours to close; nil when the caller gave one
	log        *slog.Logger
	closeOnce  sync.Once
}

// NewRemote connects to cfg.URL, finds or creates the store and writes
// model.fga when the store's latest model differs.
func NewRemote(ctx context.Context, cfg RemoteConfig) (*Remote, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hc, owned := cfg.HTTPClient, false
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		owned = true
	}
	c, err := client.NewSdkClient(&client.ClientConfiguration{
		ApiUrl:         cfg.URL,
		StoreId:        cfg.StoreID,
		HTTPClient:     hc,
		DefaultHeaders: authHeader(cfg.Token),
	})
	if err != nil {
		return nil, fmt.Errorf("configuring openfga client for %s: %w", cfg.URL, err)
	}
	r := &Remote{c: c, maxResults: cfg.ListObjectsMaxResults, log: log}
	if owned {
		r.hc = hc
	}
	if r.maxResults == 0 {
		r.maxResults = 1000
	}
	ms := remoteStore{c}
	r.storeID = cfg.StoreID
	if r.storeID == "" {
		if r.storeID, err = ensureStore(ctx, ms, cmpOr(cfg.StoreName, DefaultStoreName), log); err != nil {
			return nil, err
		}
	}
	if r.modelID, err = ensureModel(ctx, ms, r.storeID, log); err != nil {
		return nil, err
	}
	if err := c.SetStoreId(r.storeID); err != nil {
		return nil, fmt.Errorf("openfga store id %q: %w", r.storeID, err)
	}
	if err := c.SetAuthorizationModelId(r.modelID); err != nil {
		return nil, fmt.Errorf("openfga model id %q: %w", r.modelID, err)
	}
	log.Info("openfga remote", "url", cfg.URL, "store_id", r.storeID, "model_id", r.modelID)
	return r, nil
}

// authHeader sends the token ourselves: the go-sdk ignores its Credentials
// when given an HTTPClient.
func authHeader(token string) map[string]string {
	if token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + token}
}

// LogValue keeps the token out of logs.
func (cfg RemoteConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", cfg.URL), slog.String("store_id", cfg.StoreID), slog.String("token", "REDACTED"))
}

// StoreID returns the OpenFGA store in use.
func (r *Remote) StoreID() string { return r.storeID }

// ModelID returns the authorization model in use.
func (r *Remote) ModelID() string { return r.modelID }

// Close closes the idle connections of the HTTP client NewRemote made (a
// caller's RemoteConfig.HTTPClient stays the caller's). It is idempotent.
func (r *Remote) Close() error {
	r.closeOnce.Do(func() {
		if r.hc != nil {
			r.hc.CloseIdleConnections()
		}
	})
	return nil
}

var higher = fgasdk.CONSISTENCYPREFERENCE_HIGHER_CONSISTENCY

// Check reports whether t.User has t.Relation on t.Object.
func (r *Remote) Check(ctx context.Context, t Tuple) (bool, error) {
	resp, err := r.c.Check(ctx).
		Body(client.ClientCheckRequest{User: t.User, Relation: t.Relation, Object: t.Object}).
		Options(client.ClientCheckOptions{Consistency: &higher}).
		Execute()
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", t, err)
	}
	return resp.GetAllowed(), nil
}

// Write adds writes and removes deletes in one transaction, skipping
// writes of tuples that exist and deletes of tuples that do not (the go-sdk
// cannot ask the server to ignore them, so Write reads first; a concurrent
// writer of the same tuple can still make it fail).
func (r *Remote) Write(ctx context.Context, writes, deletes []Tuple) error {
	writes, deletes, err := r.effective(ctx, writes, deletes)
	if err != nil || len(writes)+len(deletes) == 0 {
		return err
	}
	body := client.ClientWriteRequest{}
	for _, t := range writes {
		body.Writes = append(body.Writes, client.ClientTupleKey{User: t.User, Relation: t.Relation, Object: t.Object})
	}
	for _, t := range deletes {
		body.Deletes = append(body.Deletes, client.ClientTupleKeyWithoutCondition{User: t.User, Relation: t.Relation, Object: t.Object})
	}
	if _, err := r.c.Write(ctx).Body(body).Execute(); err != nil {
		return fmt.Errorf("writing %d tuples, deleting %d: %w", len(writes), len(deletes), err)
	}
	return nil
}

// effective drops the writes that exist and the deletes that do not.
func (r *Remote) effective(ctx context.Context, writes, deletes []Tuple) (w, d []Tuple, err error) {
	for _, t := range writes {
		ok, err := r.exists(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			w = append(w, t)
		}
	}
	for _, t := range deletes {
		ok, err := r.exists(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			d = append(d, t)
		}
	}
	return w, d, nil
}

func (r *Remote) exists(ctx context.Context, t Tuple) (bool, error) {
	ts, err := r.Read(ctx, t)
	return len(ts) > 0, err
}

// ListObjects returns every object of objectType on which user has
// relation, or ErrTruncated when the answer reached the server's cap.
func (r *Remote) ListObjects(ctx context.Context, user, relation, objectType string) ([]string, error) {
	resp, err := r.c.ListObjects(ctx).
		Body(client.ClientListObjectsRequest{User: user, Relation: relation, Type: objectType}).
		Options(client.ClientListObjectsOptions{Consistency: &higher}).
		Execute()
	if err != nil {
		return nil, fmt.Errorf("listing %s objects %s can %s: %w", objectType, user, relation, err)
	}
	objs := resp.GetObjects()
	if len(objs) >= r.maxResults {
		return objs, fmt.Errorf("listing %s objects %s can %s: %d answers: %w", objectType, user, relation, len(objs), ErrTruncated)
	}
	return objs, nil
}

// ListUsers returns the users of userType that have relation on object
// (see Embedded.ListUsers).
func (r *Remote) ListUsers(ctx context.Context, object, relation, userType string) ([]string, error) {
	typ, id, _, ok := Split(object)
	if !ok {
		return nil, fmt.Errorf("listing users of %q: not a type:id object", object)
	}
	resp, err := r.c.ListUsers(ctx).
		Body(client.ClientListUsersRequest{
			Object:      fgasdk.FgaObject{Type: typ, Id: id},
			Relation:    relation,
			UserFilters: []fgasdk.UserTypeFilter{{Type: userType}},
		}).
		Options(client.ClientListUsersOptions{Consistency: &higher}).
		Execute()
	if err != nil {
		return nil, fmt.Errorf("listing users with %s on %s: %w", relation, object, err)
	}
	var out []string
	for _, u := range resp.GetUsers() {
		if u.Object != nil {
			out = append(out, Object(u.Object.Type, u.Object.Id))
		}
	}
	return out, nil
}

// Read returns the stored tuples matching filter (see Embedded.Read).
func (r *Remote) Read(ctx context.Context, filter Tuple) ([]Tuple, error) {
	var out []Tuple
	body := client.ClientReadRequest{}
	if filter != (Tuple{}) {
		body = client.ClientReadRequest{User: &filter.User, Relation: &filter.Relation, Object: &filter.Object}
	}
	pageSize := int32(100)
	token := ""
	for {
		resp, err := r.c.Read(ctx).Body(body).
			Options(client.ClientReadOptions{PageSize: &pageSize, ContinuationToken: &token, Consistency: &higher}).
			Execute()
		if err != nil {
			return nil, fmt.Errorf("reading tuples %s: %w", filter, err)
		}
		for _, t := range resp.GetTuples() {
			out = append(out, Tuple{User: t.Key.User, Relation: t.Key.Relation, Object: t.Key.Object})
		}
		if token = resp.GetContinuationToken(); token == "" {
			return out, nil
		}
	}
}

// remoteStore gives bootstrap the client's store and model calls.
type remoteStore struct{ c *client.OpenFgaClient }

func (s remoteStore) storeIDs(ctx context.Context, name string) ([]string, error) {
	var ids []string
	pageSize := int32(100)
	token := ""
	for {
		resp, err := s.c.ListStores(ctx).
			Options(client.ClientListStoresOptions{PageSize: &pageSize, ContinuationToken: &token}).
			Execute()
		if err != nil {
			return nil, err
		}
		for _, st := range resp.GetStores() {
			if st.Name == name {
				ids = append(ids, st.Id)
			}
		}
		if token = resp.GetContinuationToken(); token == "" {
			return ids, nil
		}
	}
}

func (s remoteStore) createStore(ctx context.Context, name string) (string, error) {
	resp, err := s.c.CreateStore(ctx).Body(client.ClientCreateStoreRequest{Name: name}).Execute()
	if err != nil {
		return "", err
	}
	return resp.GetId(), nil
}

func (s remoteStore) deleteStore(ctx context.Context, id string) error {
	_, err := s.c.DeleteStore(ctx).Options(client.ClientDeleteStoreOptions{StoreId: &id}).Execute()
	return err
}

func (s remoteStore) latestModel(ctx context.Context, storeID string) (*openfgav1.AuthorizationModel, error) {
	one := int32(1)
	resp, err := s.c.ReadAuthorizationModels(ctx).
		Options(client.ClientReadAuthorizationModelsOptions{StoreId: &storeID, PageSize: &one}).
		Execute()
	if err != nil {
		return nil, err
	}
	if len(resp.AuthorizationModels) == 0 {
		return nil, nil
	}
	return sdkToProto(resp.AuthorizationModels[0])
}

func (s remoteStore) writeModel(ctx context.Context, storeID string, m *openfgav1.AuthorizationModel) (string, error) {
	var req client.ClientWriteAuthorizationModelRequest
	if err := protoToSDK(m, &req); err != nil {
		return "", err
	}
	resp, err := s.c.WriteAuthorizationModel(ctx).Body(req).
		Options(client.ClientWriteAuthorizationModelOptions{StoreId: &storeID}).
		Execute()
	if err != nil {
		return "", err
	}
	return resp.GetAuthorizationModelId(), nil
}

// The go-sdk's model types mirror OpenFGA's JSON API, so models cross
// between them and the protobuf types through JSON.

func sdkToProto(m fgasdk.AuthorizationModel) (*openfgav1.AuthorizationModel, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out openfgav1.AuthorizationModel
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding the stored model: %w", err)
	}
	return &out, nil
}

func protoToSDK(m *openfgav1.AuthorizationModel, dst *client.ClientWriteAuthorizationModelRequest) error {
	b, err := protojson.Marshal(m) // OpenFGA's JSON names, as its HTTP API and the go-sdk use
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}
