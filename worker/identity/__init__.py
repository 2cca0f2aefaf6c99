"""Who a request is for: the client registry, Regions, the Cognito user a call counts against."""
