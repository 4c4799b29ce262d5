package main

import (
	"context"
	"crypto/hmac"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credential is a fake static AWS credential that dsql-local accepts, mapped to an IAM principal.
// It never works against AWS.
type Credential struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	PrincipalArn    string `json:"principalArn"`
	// Admin: the principal holds dsql:DbConnectAdmin (may connect as "admin"). Every test
	// principal holds dsql:DbConnect.
	Admin bool `json:"admin"`
}

// testCredentials are fixed and documented in README.md, so tests and humans can use them.
var testCredentials = []Credential{
	{AccessKeyID: "AKIADSQLLOCALADMIN00", SecretAccessKey: "dsql-local-admin-secret-not-an-aws-key", PrincipalArn: "arn:aws:iam::000000000000:role/admin", Admin: true},
	{AccessKeyID: "AKIADSQLLOCALTEMPORL", SecretAccessKey: "dsql-local-temporal-server-secret-not-an-aws-key", PrincipalArn: "arn:aws:iam::000000000000:role/temporal-server"},
	{AccessKeyID: "AKIADSQLLOCALOTHER00", SecretAccessKey: "dsql-local-other-secret-not-an-aws-key", PrincipalArn: "arn:aws:iam::000000000000:role/other"},
}

const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// tokenVerifier checks DSQL IAM auth tokens (SigV4 presigned URLs without the scheme).
type tokenVerifier struct {
	hostname string
	region   string
	creds    map[string]Credential
	now      func() time.Time
}

func newTokenVerifier(hostname, region string, creds []Credential) *tokenVerifier {
	m := map[string]Credential{}
	for _, c := range creds {
		m[c.AccessKeyID] = c
	}
	return &tokenVerifier{hostname: hostname, region: region, creds: m, now: time.Now}
}

// verify checks token for user and returns the signing principal. The error text explains why a
// token was refused (sent to the client as the DETAIL of 28P01).
func (v *tokenVerifier) verify(token, user string) (Credential, error) {
	var none Credential
	u, err := url.Parse("https://" + token)
	if err != nil || u.RawQuery == "" {
		return none, fmt.Errorf("password is not a DSQL IAM auth token")
	}
	if u.Host != v.hostname {
		return none, fmt.Errorf("token was signed for host %q, this endpoint is %q", u.Host, v.hostname)
	}
	q := u.Query()
	action := q.Get("Action")
	wantAction := "DbConnect"
	if user == "admin" {
		wantAction = "DbConnectAdmin"
	}
	if action != wantAction {
		return none, fmt.Errorf("user %q needs a %s token, got Action=%q", user, wantAction, action)
	}
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return none, fmt.Errorf("unsupported X-Amz-Algorithm %q", q.Get("X-Amz-Algorithm"))
	}
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return none, fmt.Errorf("malformed X-Amz-Credential")
	}
	if scope[2] != v.region || scope[3] != "dsql" {
		return none, fmt.Errorf("token scope is %s/%s, this endpoint is %s/dsql", scope[2], scope[3], v.region)
	}
	cred, ok := v.creds[scope[0]]
	if !ok {
		return none, fmt.Errorf("unknown access key id %q", scope[0])
	}
	signedAt, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return none, fmt.Errorf("malformed X-Amz-Date")
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || expires <= 0 || expires > 604800 {
		return none, fmt.Errorf("X-Amz-Expires must be 1..604800 seconds")
	}
	now := v.now()
	if now.Before(signedAt.Add(-5 * time.Minute)) {
		return none, fmt.Errorf("token is signed in the future")
	}
	if now.After(signedAt.Add(time.Duration(expires) * time.Second)) {
		return none, fmt.Errorf("token expired at %s", signedAt.Add(time.Duration(expires)*time.Second).Format(time.RFC3339))
	}
	if q.Get("X-Amz-SignedHeaders") != "host" {
		return none, fmt.Errorf("token must sign only the host header")
	}
	// Recompute the presigned signature with the same inputs.
	unsigned := url.Values{}
	for k, vs := range q {
		switch k {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token":
			continue
		}
		unsigned[k] = vs
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+u.Host+"/", nil)
	req.URL.RawQuery = unsigned.Encode()
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{
		AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey, SessionToken: q.Get("X-Amz-Security-Token"),
	}, req, emptyPayloadHash, "dsql", v.region, signedAt)
	if err != nil {
		return none, fmt.Errorf("re-signing token: %w", err)
	}
	su, _ := url.Parse(signed)
	if !hmac.Equal([]byte(su.Query().Get("X-Amz-Signature")), []byte(q.Get("X-Amz-Signature"))) {
		return none, fmt.Errorf("signature does not match (wrong secret key or altered token)")
	}
	if action == "DbConnectAdmin" && !cred.Admin {
		return none, fmt.Errorf("principal %s is not allowed dsql:DbConnectAdmin", cred.PrincipalArn)
	}
	return cred, nil
}
