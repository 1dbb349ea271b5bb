package models

// Approval is the review state of a campaign or creative. Those an advertiser creates wait
// for a network admin ("pending"); only approved ones take part in serving, whatever their
// status. A rejection carries a reason the advertiser sees.
type Approval string

// Approval states.
const (
	ApprovalPending  Approval = "pending"
	ApprovalApproved Approval = "approved"
	ApprovalRejected Approval = "rejected"
)

// Valid reports whether a is a known approval state.
func (a Approval) Valid() bool {
	return a == ApprovalPending || a == ApprovalApproved || a == ApprovalRejected
}
