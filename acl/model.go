package acl

import (
	_ "embed"
	"fmt"
	"sync"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"
	"google.golang.org/protobuf/proto"
)

//go:embed model.fga
var modelDSL string

// ModelDSL returns the authorization model in OpenFGA's DSL, as embedded in
// the binary (for `warren openfga model` and for operators of an external
// OpenFGA).
func ModelDSL() string { return modelDSL }

var parsedModel = sync.OnceValues(func() (*openfgav1.AuthorizationModel, error) {
	m, err := transformer.TransformDSLToProto(modelDSL)
	if err != nil {
		return nil, fmt.Errorf("parsing model.fga: %w", err)
	}
	return m, nil
})

// model returns a fresh copy of the parsed model (callers may modify it).
func model() (*openfgav1.AuthorizationModel, error) {
	m, err := parsedModel()
	if err != nil {
		return nil, err
	}
	return proto.Clone(m).(*openfgav1.AuthorizationModel), nil
}

// sameModel reports whether a stored model is ours, ignoring its id.
func sameModel(stored, ours *openfgav1.AuthorizationModel) bool {
	if stored == nil {
		return false
	}
	a := proto.Clone(stored).(*openfgav1.AuthorizationModel)
	b := proto.Clone(ours).(*openfgav1.AuthorizationModel)
	a.Id, b.Id = "", ""
	return proto.Equal(a, b)
}
