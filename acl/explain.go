package acl

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// maxFolderDepth bounds the folder chain Explain walks (and breaks cycles).
const maxFolderDepth = 64

// Explanation says why a user may or may not reach a port of a device.
type Explanation struct {
	User   string // plain id
	Device string // plain id
	Port   uint16
	// Allowed is OpenFGA's answer now.
	Allowed bool
	// Compiled is the compiled Table's answer now; it differs from Allowed
	// only while a recompile is pending.
	Compiled bool
	// Service is the service on Port; nil when the device has none there
	// (then Allowed is false whatever the relations).
	Service *Service
	// Relation is the relation Service requires on the device.
	Relation string
	// Chain is the device, its folders from the nearest to the root, then
	// their organizations: where a grant could come from.
	Chain []string
	// GrantedOn, when Allowed, is the highest object of Chain on which the
	// user holds Relation (for an organization: admin).
	GrantedOn string
	// Holds lists the actions the user holds on the device.
	Holds []string
	// Reason is one sentence for people.
	Reason string
}

// Explain answers "why can (or can't) user reach port on device", with
// Check calls along the device's folder chain. user and device are plain
// ids; the services are those of the last Compile.
func (c *Compiler) Explain(ctx context.Context, user, device string, port uint16) (Explanation, error) {
	t := c.Table()
	x := Explanation{User: user, Device: device, Port: port, Compiled: t.Allowed(user, device, port)}
	var err error
	if x.Holds, err = c.holds(ctx, user, device); err != nil {
		return x, err
	}
	candidates := servicesOn(t.Services(device), port)
	if len(candidates) == 0 {
		x.Reason = fmt.Sprintf("%s has no service on port %d", Device(device), port)
		return x, nil
	}
	if x.Service, x.Allowed, err = c.firstAllowed(ctx, user, device, candidates); err != nil {
		return x, err
	}
	x.Relation = x.Service.Relation
	folders, orgs, err := c.chain(ctx, device)
	if err != nil {
		return x, err
	}
	x.Chain = append(append([]string{Device(device)}, folders...), orgs...)
	if !x.Allowed {
		x.Reason = deniedReason(x, folders, orgs)
		return x, nil
	}
	if x.GrantedOn, err = c.grantedOn(ctx, User(user), x.Relation, Device(device), folders, orgs); err != nil {
		return x, err
	}
	x.Reason = allowedReason(x, orgs)
	return x, nil
}

func servicesOn(services []Service, port uint16) []Service {
	var out []Service
	for _, s := range services {
		if s.Port == port {
			out = append(out, s)
		}
	}
	return out
}

// firstAllowed returns the first candidate whose relation user holds on
// device, else the first candidate.
func (c *Compiler) firstAllowed(ctx context.Context, user, device string, candidates []Service) (*Service, bool, error) {
	for i, s := range candidates {
		ok, err := c.authz.Check(ctx, Tuple{User: User(user), Relation: s.Relation, Object: Device(device)})
		if err != nil {
			return nil, false, fmt.Errorf("explaining: %w", err)
		}
		if ok {
			return &candidates[i], true, nil
		}
	}
	return &candidates[0], false, nil
}

// holds returns the actions user holds on device.
func (c *Compiler) holds(ctx context.Context, user, device string) ([]string, error) {
	var out []string
	for _, a := range Actions {
		ok, err := c.authz.Check(ctx, Tuple{User: User(user), Relation: a, Object: Device(device)})
		if err != nil {
			return nil, fmt.Errorf("explaining: %w", err)
		}
		if ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// chain reads the device's folder, its ancestors and their organizations.
func (c *Compiler) chain(ctx context.Context, device string) (folders, orgs []string, err error) {
	if orgs, err = c.related(ctx, Device(device), RelationOrg); err != nil {
		return nil, nil, fmt.Errorf("explaining: reading the organization of %s: %w", Device(device), err)
	}
	next, err := c.related(ctx, Device(device), RelationFolder)
	for len(next) > 0 && err == nil && len(folders) < maxFolderDepth {
		f := next[0]
		if slices.Contains(folders, f) {
			break
		}
		folders = append(folders, f)
		var os []string
		if os, err = c.related(ctx, f, RelationOrg); err == nil {
			for _, o := range os {
				if !slices.Contains(orgs, o) {
					orgs = append(orgs, o)
				}
			}
			next, err = c.related(ctx, f, RelationParent)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("explaining: reading the folder chain of %s: %w", Device(device), err)
	}
	return folders, orgs, nil
}

// related returns the users of the tuples (object, relation, *), sorted.
func (c *Compiler) related(ctx context.Context, object, relation string) ([]string, error) {
	ts, err := c.authz.Read(ctx, Tuple{Relation: relation, Object: object})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.User)
	}
	slices.Sort(out)
	return out, nil
}

// grantedOn finds the highest object in the chain where user holds rel:
// organization admin first, then folders from the root down, then the
// device.
func (c *Compiler) grantedOn(ctx context.Context, user, rel, device string, folders, orgs []string) (string, error) {
	checks := make([]Tuple, 0, len(orgs)+len(folders))
	for _, o := range orgs {
		checks = append(checks, Tuple{User: user, Relation: RelationAdmin, Object: o})
	}
	for i := len(folders) - 1; i >= 0; i-- {
		checks = append(checks, Tuple{User: user, Relation: rel, Object: folders[i]})
	}
	for _, t := range checks {
		ok, err := c.authz.Check(ctx, t)
		if err != nil {
			return "", fmt.Errorf("explaining: %w", err)
		}
		if ok {
			return t.Object, nil
		}
	}
	return device, nil
}

func serviceLabel(s *Service) string {
	if s.Name != "" {
		return fmt.Sprintf("service %s on port %d", s.Name, s.Port)
	}
	return fmt.Sprintf("port %d", s.Port)
}

func allowedReason(x Explanation, orgs []string) string {
	how := "granted on " + x.GrantedOn
	if slices.Contains(orgs, x.GrantedOn) {
		how = "as admin of " + x.GrantedOn
	}
	return fmt.Sprintf("%s has %s on %s (required by %s), %s",
		User(x.User), x.Relation, Device(x.Device), serviceLabel(x.Service), how)
}

func deniedReason(x Explanation, folders, orgs []string) string {
	var where string
	switch {
	case len(folders) == 0:
		where = "no grant on the device, which is in no folder"
	case len(orgs) == 0:
		where = fmt.Sprintf("no grant on the device or its folder chain %s", strings.Join(folders, " -> "))
	default:
		where = fmt.Sprintf("no grant on the device, its folder chain %s, or %s",
			strings.Join(folders, " -> "), strings.Join(orgs, ", "))
	}
	s := fmt.Sprintf("%s lacks %s on %s (required by %s): %s",
		User(x.User), x.Relation, Device(x.Device), serviceLabel(x.Service), where)
	if len(x.Holds) > 0 {
		s += "; holds " + strings.Join(x.Holds, ", ")
	}
	return s
}
