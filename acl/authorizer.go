package acl

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
)

// Authorizer is what the Compiler needs from OpenFGA. *Embedded and *Remote
// implement it (and more: Write, ListUsers, Close).
type Authorizer interface {
	// Check reports whether t.User has t.Relation on t.Object.
	Check(ctx context.Context, t Tuple) (bool, error)
	// ListObjects returns every object of objectType ("type:id") on which
	// user has relation.
	ListObjects(ctx context.Context, user, relation, objectType string) ([]string, error)
	// Read returns the stored tuples matching filter (see Embedded.Read).
	Read(ctx context.Context, filter Tuple) ([]Tuple, error)
}

var (
	_ Authorizer = (*Embedded)(nil)
	_ Authorizer = (*Remote)(nil)
)

// DefaultStoreName names the OpenFGA store Warren keeps its tuples in.
const DefaultStoreName = "warren"

// modelStore is the part of OpenFGA's API that bootstrap needs; both the
// embedded server and the remote client provide it.
type modelStore interface {
	storeIDs(ctx context.Context, name string) ([]string, error)
	createStore(ctx context.Context, name string) (string, error)
	deleteStore(ctx context.Context, id string) error
	latestModel(ctx context.Context, storeID string) (*openfgav1.AuthorizationModel, error)
	writeModel(ctx context.Context, storeID string, m *openfgav1.AuthorizationModel) (string, error)
}

// bootstrap finds or creates the store named name and makes sure its latest
// model is ours, writing it when the store is new or holds another model.
func bootstrap(ctx context.Context, ms modelStore, name string, log *slog.Logger) (storeID, modelID string, err error) {
	storeID, err = ensureStore(ctx, ms, name, log)
	if err != nil {
		return "", "", err
	}
	modelID, err = ensureModel(ctx, ms, storeID, log)
	if err != nil {
		return "", "", err
	}
	return storeID, modelID, nil
}

// ensureStore returns the id of the store named name, creating it when
// missing. Replicas starting together may each create one: all of them then
// settle on the oldest (store ids are ULIDs, which sort by creation time) and
// delete the one they made if it lost.
func ensureStore(ctx context.Context, ms modelStore, name string, log *slog.Logger) (string, error) {
	ids, err := ms.storeIDs(ctx, name)
	if err != nil {
		return "", fmt.Errorf("listing openfga stores: %w", err)
	}
	if len(ids) > 0 {
		return slices.Min(ids), nil
	}
	created, err := ms.createStore(ctx, name)
	if err != nil {
		return "", fmt.Errorf("creating openfga store %q: %w", name, err)
	}
	if ids, err = ms.storeIDs(ctx, name); err != nil {
		return "", fmt.Errorf("listing openfga stores: %w", err)
	}
	winner := slices.Min(append(ids, created))
	if winner != created {
		if err := ms.deleteStore(ctx, created); err != nil {
			log.Warn("deleting a duplicate openfga store", "store_id", created, "err", err)
		}
		return winner, nil
	}
	log.Info("created openfga store", "store", name, "store_id", created)
	return created, nil
}

// ensureModel returns the id of the store's latest model when it equals
// model.fga, else writes model.fga and returns the new id.
func ensureModel(ctx context.Context, ms modelStore, storeID string, log *slog.Logger) (string, error) {
	ours, err := model()
	if err != nil {
		return "", err
	}
	latest, err := ms.latestModel(ctx, storeID)
	if err != nil {
		return "", fmt.Errorf("reading the openfga model: %w", err)
	}
	if sameModel(latest, ours) {
		return latest.GetId(), nil
	}
	id, err := ms.writeModel(ctx, storeID, ours)
	if err != nil {
		return "", fmt.Errorf("writing the openfga model: %w", err)
	}
	log.Info("wrote the openfga authorization model", "store_id", storeID, "model_id", id)
	return id, nil
}
