package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
)

// orgRun adapts a command that acts in one organization.
func orgRun[T any](f func(ctx context.Context, c *api.V1Client, org string, pos []string) (T, func(io.Writer), error)) func(context.Context, *session, []string) (any, func(io.Writer), error) {
	return func(ctx context.Context, s *session, pos []string) (any, func(io.Writer), error) {
		org, err := s.org(ctx)
		if err != nil {
			return nil, nil, err
		}
		out, human, err := f(ctx, s.c, org, pos)
		if err != nil {
			return nil, nil, err
		}
		return out, human, nil
	}
}

// table prints rows under a tab-separated header.
func table(header string, rows func(w io.Writer)) func(io.Writer) {
	return func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		rows(tw)
		tw.Flush()
	}
}

func clientCommands() map[string]clientCommand {
	cmds := map[string]clientCommand{}
	for _, add := range []func(map[string]clientCommand){orgCommands, folderCommands, groupCommands,
		grantCommands, credentialCommands, idpCommands, deviceCommands, sessionCommands} {
		add(cmds)
	}
	return cmds
}

func orgCommands(cmds map[string]clientCommand) {
	var req api.CreateOrgRequest
	cmds["org list"] = clientCommand{
		run: func(ctx context.Context, s *session, _ []string) (any, func(io.Writer), error) {
			orgs, err := s.c.ListOrgs(ctx)
			return orgs, table("ID\tSLUG\tNAME\tROLE", func(w io.Writer) {
				for _, o := range orgs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", o.ID, o.Slug, o.Name, dash(o.Role))
				}
			}), err
		},
	}
	cmds["org create"] = clientCommand{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&req.Name, "name", "", "display name (required)")
			fs.StringVar(&req.Slug, "slug", "", "short unique name, [a-z0-9-] (required)")
		},
		run: func(ctx context.Context, s *session, _ []string) (any, func(io.Writer), error) {
			o, err := s.c.CreateOrg(ctx, req)
			return o, func(w io.Writer) { fmt.Fprintf(w, "organization %s created (id %s)\n", o.Slug, o.ID) }, err
		},
	}
	var mreq api.AddMemberRequest
	cmds["member list"] = clientCommand{
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) ([]api.Member, func(io.Writer), error) {
			ms, err := c.ListMembers(ctx, org)
			return ms, table("USER ID\tEMAIL\tNAME\tROLE", func(w io.Writer) {
				for _, m := range ms {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.UserID, m.Email, dash(m.DisplayName), m.Role)
				}
			}), err
		}),
	}
	cmds["member add"] = clientCommand{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&mreq.UserID, "user", "", "user id (required)")
			fs.StringVar(&mreq.Role, "role", "member", "member or admin")
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) (api.Member, func(io.Writer), error) {
			m, err := c.AddMember(ctx, org, mreq)
			return m, func(w io.Writer) { fmt.Fprintf(w, "%s added as %s\n", firstNonEmpty(m.Email, m.UserID), m.Role) }, err
		}),
	}
}

func folderCommands(cmds map[string]clientCommand) {
	var req api.CreateFolderRequest
	cmds["folder list"] = clientCommand{
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) ([]api.Folder, func(io.Writer), error) {
			folders, err := c.ListFolders(ctx, org)
			return folders, table("ID\tNAME\tPARENT", func(w io.Writer) {
				for _, f := range folders {
					fmt.Fprintf(w, "%s\t%s\t%s\n", f.ID, f.Name, dash(f.ParentID))
				}
			}), err
		}),
	}
	cmds["folder create"] = clientCommand{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&req.Name, "name", "", "folder name (required)")
			fs.StringVar(&req.ParentID, "parent", "", "parent folder id (default: top level)")
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) (api.Folder, func(io.Writer), error) {
			f, err := c.CreateFolder(ctx, org, req)
			return f, func(w io.Writer) { fmt.Fprintf(w, "folder %s created (id %s)\n", f.Name, f.ID) }, err
		}),
	}
}

// deviceCommands are the REST device commands; `device list` stays the
// admin socket's platform-wide list.
func deviceCommands(cmds map[string]clientCommand) {
	var folder string
	cmds["device move"] = clientCommand{
		args: "DEVICE", nargs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&folder, "folder", "", `folder id ("" = the organization's top level)`)
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (api.OrgDevice, func(io.Writer), error) {
			d, err := c.UpdateDevice(ctx, org, pos[0], api.UpdateDeviceRequest{FolderID: &folder})
			return d, func(w io.Writer) { fmt.Fprintf(w, "device %s moved to %s\n", d.Name, dash(d.FolderID)) }, err
		}),
	}
}

func groupCommands(cmds map[string]clientCommand) {
	var (
		req  api.CreateGroupRequest
		mreq api.AddGroupMemberRequest
	)
	cmds["group list"] = clientCommand{
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) ([]api.Group, func(io.Writer), error) {
			gs, err := c.ListGroups(ctx, org)
			return gs, table("ID\tNAME", func(w io.Writer) {
				for _, g := range gs {
					fmt.Fprintf(w, "%s\t%s\n", g.ID, g.Name)
				}
			}), err
		}),
	}
	cmds["group create"] = clientCommand{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&req.Name, "name", "", "group name (required)") },
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) (api.Group, func(io.Writer), error) {
			g, err := c.CreateGroup(ctx, org, req)
			return g, func(w io.Writer) { fmt.Fprintf(w, "group %s created (id %s)\n", g.Name, g.ID) }, err
		}),
	}
	cmds["group add-member"] = clientCommand{
		args: "GROUP", nargs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&mreq.UserID, "user", "", "id of a user to add")
			fs.StringVar(&mreq.GroupID, "group", "", "id of a group to nest")
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (api.GroupMember, func(io.Writer), error) {
			if (mreq.UserID == "") == (mreq.GroupID == "") {
				return api.GroupMember{}, nil, errors.New("pass exactly one of --user and --group")
			}
			m, err := c.AddGroupMember(ctx, org, pos[0], mreq)
			return m, func(w io.Writer) { fmt.Fprintf(w, "%s added to group %s\n", m.Name, pos[0]) }, err
		}),
	}
}

func grantCommands(cmds map[string]clientCommand) {
	var subject, relation, object string
	cmds["grant list"] = clientCommand{
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) ([]api.Grant, func(io.Writer), error) {
			gs, err := c.ListGrants(ctx, org)
			return gs, table("ID\tSUBJECT\tRELATION\tOBJECT", func(w io.Writer) {
				for _, g := range gs {
					fmt.Fprintf(w, "%s\t%s:%s\t%s\t%s:%s\n", g.ID, g.SubjectType, g.SubjectID, g.Relation, g.ObjectType, g.ObjectID)
				}
			}), err
		}),
	}
	cmds["grant add"] = clientCommand{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&subject, "subject", "", "user:ID or group:ID (required)")
			fs.StringVar(&relation, "relation", "", "view, connect, ... or, on the organization, admin or member (required)")
			fs.StringVar(&object, "object", "", "folder:ID, device:ID or organization[:ID] (required)")
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) (api.Grant, func(io.Writer), error) {
			st, sid, ok := strings.Cut(subject, ":")
			if !ok || st == "" || sid == "" {
				return api.Grant{}, nil, errors.New("--subject must be user:ID or group:ID")
			}
			ot, oid, _ := strings.Cut(object, ":")
			if ot == "" || (oid == "" && ot != "organization") {
				return api.Grant{}, nil, errors.New("--object must be folder:ID, device:ID or organization[:ID]")
			}
			g, err := c.CreateGrant(ctx, org, api.CreateGrantRequest{SubjectType: st, SubjectID: sid, Relation: relation, ObjectType: ot, ObjectID: oid})
			return g, func(w io.Writer) {
				fmt.Fprintf(w, "granted %s to %s:%s on %s:%s (id %s)\n", g.Relation, g.SubjectType, g.SubjectID, g.ObjectType, g.ObjectID, g.ID)
			}, err
		}),
	}
	cmds["grant remove"] = clientCommand{
		args: "ID", nargs: 1,
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (any, func(io.Writer), error) {
			err := c.DeleteGrant(ctx, org, pos[0])
			return nil, func(w io.Writer) { fmt.Fprintf(w, "grant %s removed\n", pos[0]) }, err
		}),
	}
	cmds["acl explain"] = clientCommand{
		args: "USER DEVICE PORT", nargs: 3,
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (api.Explanation, func(io.Writer), error) {
			port, err := strconv.Atoi(pos[2])
			if err != nil || port < 1 || port > 65535 {
				return api.Explanation{}, nil, fmt.Errorf("PORT must be 1 to 65535, not %q", pos[2])
			}
			x, err := c.Explain(ctx, org, pos[0], pos[1], port)
			return x, func(w io.Writer) { printExplanation(w, x) }, err
		}),
	}
}

func printExplanation(w io.Writer, x api.Explanation) {
	verdict := "DENIED"
	if x.Allowed {
		verdict = "ALLOWED"
	}
	fmt.Fprintf(w, "%s: user %s to device %s port %d\n", verdict, x.UserID, x.DeviceID, x.Port)
	if x.Compiled != x.Allowed {
		fmt.Fprintf(w, "  (the compiled port ACLs still say %v; a recompile is pending)\n", x.Compiled)
	}
	fmt.Fprintf(w, "  reason:     %s\n", x.Reason)
	if x.Service != "" {
		fmt.Fprintf(w, "  service:    %s (requires %s)\n", x.Service, x.Relation)
	}
	if x.GrantedOn != "" {
		fmt.Fprintf(w, "  granted on: %s\n", x.GrantedOn)
	}
	fmt.Fprintf(w, "  chain:      %s\n", strings.Join(x.Chain, " -> "))
	fmt.Fprintf(w, "  holds:      %s\n", dash(strings.Join(x.Holds, ", ")))
}

func credentialCommands(cmds map[string]clientCommand) {
	var (
		scope, keyFile string
		passwordStdin  bool
		cr             api.NewCredential
	)
	cmds["credential list"] = clientCommand{
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) ([]api.Credential, func(io.Writer), error) {
			crs, err := c.ListCredentials(ctx, org)
			return crs, table("ID\tNAME\tSCOPE\tUSERNAME\tKIND\tVERSION\tUPDATED", func(w io.Writer) {
				for _, cr := range crs {
					fmt.Fprintf(w, "%s\t%s\t%s:%s\t%s\t%s\t%d\t%s\n", cr.ID, cr.Name, cr.ScopeType, cr.ScopeID,
						dash(cr.Username), cr.Kind, cr.Version, cr.UpdatedAt.Local().Format(time.RFC3339))
				}
			}), err
		}),
	}
	cmds["credential create"] = clientCommand{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&scope, "scope", "", "folder:ID or service:ID (required)")
			fs.StringVar(&cr.Name, "name", "", "credential name (required)")
			fs.StringVar(&cr.Username, "username", "", "user name to sign in as")
			fs.BoolVar(&passwordStdin, "password-stdin", false, "read a password from standard input")
			fs.StringVar(&keyFile, "private-key-file", "", "read a private key from this file")
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) (api.Credential, func(io.Writer), error) {
			var ok bool
			if cr.ScopeType, cr.ScopeID, ok = strings.Cut(scope, ":"); !ok || cr.ScopeID == "" {
				return api.Credential{}, nil, errors.New("--scope must be folder:ID or service:ID")
			}
			var err error
			if cr.Kind, cr.Secret, err = readSecret(passwordStdin, keyFile); err != nil {
				return api.Credential{}, nil, err
			}
			out, err := c.CreateCredential(ctx, org, cr)
			return out, func(w io.Writer) { fmt.Fprintf(w, "credential %s stored (id %s)\n", out.Name, out.ID) }, err
		}),
	}
}

// readSecret reads a credential's secret from stdin (a password) or a
// file (a private key): never from the command line, where other users
// and shell history see it.
func readSecret(passwordStdin bool, keyFile string) (kind, secret string, err error) {
	switch {
	case passwordStdin == (keyFile != ""):
		return "", "", errors.New("pass exactly one of --password-stdin and --private-key-file")
	case passwordStdin:
		s, err := readStdinSecret()
		return "password", s, err
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return "", "", fmt.Errorf("reading the private key: %w", err)
	}
	return "private_key", string(data), nil
}

// readStdinSecret reads standard input, without its final line ending.
func readStdinSecret() (string, error) {
	data, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if s == "" {
		return "", errors.New("standard input is empty")
	}
	return s, nil
}

func idpCommands(cmds map[string]clientCommand) {
	var (
		p           api.NewIdP
		secretStdin bool
	)
	cmds["idp list"] = clientCommand{
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) ([]api.IdP, func(io.Writer), error) {
			ps, err := c.ListIdPs(ctx, org)
			return ps, table("ID\tNAME\tISSUER\tCLIENT ID\tDOMAINS", func(w io.Writer) {
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Issuer, p.ClientID, strings.Join(p.Domains, ","))
				}
			}), err
		}),
	}
	cmds["idp add"] = clientCommand{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&p.Name, "name", "", "display name (required)")
			fs.StringVar(&p.Issuer, "issuer", "", "OIDC issuer URL (required)")
			fs.StringVar(&p.ClientID, "client-id", "", "OAuth client id (required)")
			fs.BoolVar(&secretStdin, "client-secret-stdin", false, "read the client secret from standard input")
			fs.Func("domain", "email domain whose users sign in here (repeatable; at least one)", func(s string) error {
				p.Domains = append(p.Domains, s)
				return nil
			})
			fs.StringVar(&p.GroupClaim, "group-claim", "", "ID token claim listing the user's groups, e.g. groups")
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) (api.IdP, func(io.Writer), error) {
			if secretStdin {
				s, err := readStdinSecret()
				if err != nil {
					return api.IdP{}, nil, err
				}
				p.ClientSecret = s
			}
			out, err := c.CreateIdP(ctx, org, p)
			return out, func(w io.Writer) { fmt.Fprintf(w, "identity provider %s added (id %s)\n", out.Name, out.ID) }, err
		}),
	}
}
