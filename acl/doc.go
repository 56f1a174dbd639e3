// Package acl decides who may do what in Warren: it holds the OpenFGA
// authorization model (model.fga), the Authorizer that evaluates it (OpenFGA
// embedded in the engine on the engine's own database, or an external OpenFGA
// through the go-sdk), and the Compiler that turns relations plus device
// services into per-(user, device) port ACLs the engine consults in O(1)
// whenever it opens a flow.
//
// Objects and users are OpenFGA strings, "type:id" ("device:dev_abc",
// "user:usr_alice") or a userset "type:id#relation" ("group:grp_ops#member").
// The Compiler and its Table speak plain ids ("usr_alice", "dev_abc") because
// that is what the engine holds on its hot path.
//
// acl must never import a controlplane package (nor anything else of
// Warren's): the engine wires it in, and a test enforces the rule.
package acl
