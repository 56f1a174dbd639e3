package acl

import (
	"context"
	"fmt"
	"time"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/openfga/pkg/server"
	"github.com/openfga/openfga/pkg/storage"
)

// EmbeddedServer exposes the OpenFGA server inside e, for tests that serve
// its HTTP API to a Remote.
func EmbeddedServer(e *Embedded) *server.Server { return e.srv }

// Oracle is a second OpenFGA server on an Embedded's datastore, with
// OpenFGA's check cache on. Differential tests use one per comparison round,
// during which nothing is written, so that the cache can only spare work,
// never change an answer.
type Oracle struct {
	srv              *server.Server
	storeID, modelID string
}

// NewOracle starts an Oracle on e's datastore.
func NewOracle(e *Embedded) (*Oracle, error) {
	srv, err := server.NewServerWithOpts(
		server.WithDatastore(noClose{e.ds}),
		server.WithCheckQueryCacheEnabled(true),
		server.WithCheckCacheLimit(1<<20),
		server.WithCheckIteratorCacheEnabled(true),
		server.WithCheckQueryCacheTTL(time.Hour),
		server.WithCheckIteratorCacheMaxResults(100000),
	)
	if err != nil {
		return nil, err
	}
	return &Oracle{srv: srv, storeID: e.storeID, modelID: e.modelID}, nil
}

// Check is OpenFGA's Check, allowed to use the cache.
func (o *Oracle) Check(ctx context.Context, t Tuple) (bool, error) {
	resp, err := o.srv.Check(ctx, &openfgav1.CheckRequest{
		StoreId:              o.storeID,
		AuthorizationModelId: o.modelID,
		TupleKey:             &openfgav1.CheckRequestTupleKey{User: t.User, Relation: t.Relation, Object: t.Object},
		Consistency:          openfgav1.ConsistencyPreference_MINIMIZE_LATENCY,
	})
	if err != nil {
		return false, fmt.Errorf("oracle checking %s: %w", t, err)
	}
	return resp.GetAllowed(), nil
}

// Close stops the oracle's server, leaving the datastore to its Embedded.
func (o *Oracle) Close() { o.srv.Close() }

// noClose keeps an Oracle's server from closing the shared datastore.
type noClose struct{ storage.OpenFGADatastore }

func (noClose) Close() {}
