package shareapi

// endpoints is the one route table (PROTOCOL.md §3.0). Paths are matched
// case-insensitively under BasePath.
func (a *API) endpoints() []*endpoint {
	return []*endpoint{
		// General (§3.2).
		{area: "General", name: "SystemUtcTime", get: true, noSession: true, fn: a.systemUTCTime},
		{area: "General", name: "LoginPublisherAccountByName", noSession: true, fn: a.loginByName},
		{area: "General", name: "AuthenticatePublisherAccount", noSession: true, fn: a.authenticate},
		{area: "General", name: "LoginPublisherAccountById", noSession: true, fn: a.loginByID},
		{area: "General", name: "LoginSubscriberAccount", noSession: true, fn: a.loginSubscriber},
		{area: "General", name: "CreateNamedValue", fn: a.createNamedValue},
		{area: "General", name: "ReadNamedValue", get: true, fn: a.readNamedValue},
		{area: "General", name: "ListValueNames", get: true, fn: a.listValueNames},
		{area: "General", name: "UpdateNamedValue", fn: a.updateNamedValue},
		{area: "General", name: "DeleteAllNamedValues", fn: a.deleteAllNamedValues},

		// Publisher: session, receiver, monitoring (§3.3).
		{area: "Publisher", name: "LogoutPublisherAccount", noSession: true, fn: a.logout},
		{area: "Publisher", name: "ChangePublisherAccountPassword", fn: a.changePassword},
		{area: "Publisher", name: "CheckMonitoredReceiverAssignmentStatus", fn: a.checkAssignment},
		{area: "Publisher", name: "ReplacePublisherAccountMonitoredReceiver", fn: a.replaceReceiver},
		{area: "Publisher", name: "GetMonitoredReceiverIdIfEnabled", fn: a.receiverIfEnabled},
		{area: "Publisher", name: "StopMonitoringReceiver", fn: a.stopMonitoringReceiver},
		{area: "Publisher", name: "IsRemoteMonitoringSessionActive", fn: a.isMonitoring},
		{area: "Publisher", name: "StartRemoteMonitoringSession", fn: a.startMonitoring},
		{area: "Publisher", name: "StopRemoteMonitoringSession", fn: a.stopMonitoring},
		{area: "Publisher", name: "UpdatePublisherAccountRuntimeInfo", fn: a.publisherRuntimeInfo},

		// Publisher: glucose (§3.4).
		{area: "Publisher", name: "PostReceiverEgvRecords", bodyLimit: largeBodyLimit, fn: a.postEGVs},
		{area: "Publisher", name: "ReadPublisherLatestGlucoseValues", fn: a.readPublisherLatest},

		// Publisher: profile (§3.5).
		{area: "Publisher", name: "ReadPublisherAccountDisplayName", fn: a.readDisplayName},
		{area: "Publisher", name: "UpdatePublisherAccountDisplayName", fn: a.updateDisplayName},
		{area: "Publisher", name: "ReadPublisherAccountEmail", fn: a.readEmail},
		{area: "Publisher", name: "UpdatePublisherAccountEmail", fn: a.updateEmail},
		{area: "Publisher", name: "ReadPublisherAccountImage", get: true, fn: a.readImage},
		{area: "Publisher", name: "UpdatePublisherAccountImage", bodyLimit: largeBodyLimit, fn: a.updateImage},
	}
}
