// Carries a SAML message to the service provider: submits the page's only form once it is parsed.
document.getElementById("saml-post").submit();
