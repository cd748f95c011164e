"""Every example rule of Microsoft's pages on dynamic membership rules (rules, efficient rules, memberOf), as
written there: en dashes, bare ``or``, a missing space before a value, lower-case operators and properties."""

DOCUMENTED_RULES = (
    'user.department -eq "Sales"',
    "user.accountEnabled -eq true",
    "user.dirSyncEnabled -eq true",
    "user.employeeId -ne null",
    'user.mail -notEndsWith "@Contoso.com"',
    'user.mailNickname -endsWith "-vendor"',
    "user.memberOf -any (group.objectId -in ['value'])",
    'user.objectId -eq "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb"',
    'user.onPremisesSecurityIdentifier -eq "S-1-1-11-1111111111-1111111111-1111111111-1111111"',
    'user.passwordPolicies -eq "DisableStrongPassword"',
    'user.otherMails -endsWith"@contoso.com"',
    'user.proxyAddresses -notEndsWith "@outlook.com"',
    'user.department -in ["50001","50002","50003","50005","50006","50007","50008","50016","50020","50024","50038",'
    '"50039","51100"]',
    "user.employeehiredate -ge system.now -plus p1d",
    "user.employeehiredate -le 2020-06-10T18:13:20Z",
    'user.displayName -match "^Da.*"',
    'user.displayName -match ".*vid"',
    "user.mail \u2013ne null",
    '(user.department -eq "Sales") -or (user.department -eq "Marketing")',
    '(user.department -eq "Sales") -and -not (user.jobTitle -startsWith "SDE")',
    'user.department \u2013eq "Marketing" \u2013and user.country \u2013eq "US"',
    'user.country \u2013eq "US" \u2013and '
    '(user.department \u2013eq "Marketing" \u2013or user.department \u2013eq "Sales")',
    'user.assignedPlans -any (assignedPlan.servicePlanId -eq "efb87545-963c-4e0d-99df-69c6916d9eb0" -and '
    'assignedPlan.capabilityStatus -eq "Enabled")',
    'user.assignedPlans -any (assignedPlan.service -eq "SCO" -and assignedPlan.capabilityStatus -eq "Enabled")',
    "user.assignedPlans -all (assignedPlan.servicePlanId -eq null)",
    '(user.proxyAddresses -any (_ -startsWith "contoso"))',
    'Direct Reports for "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb"',
    "user.objectId -ne null",
    '(user.objectId -ne null) -and (user.userType -eq "Member")',
    "device.objectId -ne null",
    '(user.extensionAttribute15 -eq "Marketing")',
    'user.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq "123"',
    'device.devicePhysicalIDs -any _ -startsWith "[ZTDId]"',
    'device.devicePhysicalIds -any _ -eq "[OrderID]:179887111881"',
    '(device.deviceOSType -eq "iPad") -or (device.deviceOSType -eq "iOS")',
    'device.deviceOSVersion -startsWith "10.0.1"',
    'user.city -match "ago"',
    'user.city -match ".*?ago.*"',
    'user.city -startswith "Lag"',
    '(user.department -eq "Accounts" -and user.city -eq "Lagos") -or \n'
    '(user.department -eq "Accounts" -and user.city -eq "Ibadan") -or \n'
    '(user.department -eq "Accounts" -and user.city -eq "Kaduna") -or \n'
    '(user.department -eq "Accounts" -and user.city -eq "Abuja") -or \n'
    '(user.department -eq "Accounts" -and user.city -eq "Port Harcourt")',
    'user.department -eq "Accounts" -and user.city -in ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]',
    '(user.city -ne "Lagos") -and (user.city -ne "Ibadan") -and (user.city -ne "Kaduna") -and (user.city -ne '
    '"Abuja") -and (user.city -ne "Port Harcourt")',
    'user.city -notin ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]',
    'user.city -eq "Lagos" or user.city -startswith "Lag"',
    "user.memberof -any (group.objectId -in ['groupId', 'groupId'])",
    "device.memberof -any (group.objectId -in ['groupId', 'groupId'])",
)
# Device rules parse; Hospes has no devices, so they fail the property check.
DEVICE_RULES = tuple(r for r in DOCUMENTED_RULES if "device." in r)
