"""
Real answers of the Notification Hubs service, as golden inputs for the emulator's
tests: registration descriptions, an entry and a feed page, from the recorded HTTP
exchanges in Azure/azure-notificationhubs-dotnet (MIT licence),
src/Microsoft.Azure.NotificationHubs.Tests/MockData.
"""

from __future__ import annotations

APPLE = (
    '<AppleRegistrationDescription xmlns="http://schemas.microsoft.com/netservices/'
    '2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance'
    '"><ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.9999999Z</ExpirationTime><'
    "RegistrationId>2769164299032376463-7564246112616637413-3</RegistrationId><Tags"
    ">$InstallationId:{95e4cf2e-685f-4141-98e2-4c5f71d1a696},tag1</Tags><PushVariab"
    'les>{"var1":"value1"}</PushVariables><DeviceToken>62BCD3484834B7E2DC56733AC550'
    "9259230CC1BA82BA1AE7D06E91908A05A8FA</DeviceToken></AppleRegistrationDescripti"
    "on>"
)

GCM = (
    '<GcmRegistrationDescription xmlns="http://schemas.microsoft.com/netservices/20'
    '10/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
    "<ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.999Z</ExpirationTime><Regist"
    "rationId>6809438969138932488-4214573370351617522-3</RegistrationId><Tags>tag1<"
    '/Tags><PushVariables>{"var1":"value1"}</PushVariables><GcmRegistrationId>amzn1'
    ".adm-registration.v2.123</GcmRegistrationId></GcmRegistrationDescription>"
)

APPLE_TEMPLATE = (
    '<AppleTemplateRegistrationDescription xmlns="http://schemas.microsoft.com/nets'
    'ervices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-'
    'instance"><ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.9999999Z</Expirati'
    "onTime><RegistrationId>7145748118279315839-4405912120491952657-3</Registration"
    "Id><Tags>$InstallationId:{95e4cf2e-685f-4141-98e2-4c5f71d1a696},tag1,Template "
    'Name</Tags><PushVariables>{"var1":"value1"}</PushVariables><DeviceToken>62BCD3'
    "484834B7E2DC56733AC5509259230CC1BA82BA1AE7D06E91908A05A8FA</DeviceToken><BodyT"
    'emplate><![CDATA[{"aps":{"alert":"alert!"}}]]></BodyTemplate><Expiry>2018-11-0'
    "7T16:18:32.6641371-08:00</Expiry><TemplateName>Template Name</TemplateName><Ap"
    "nsHeaders/></AppleTemplateRegistrationDescription>"
)

ADM = (
    '<AdmRegistrationDescription xmlns="http://schemas.microsoft.com/netservices/20'
    '10/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
    "<ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.999Z</ExpirationTime><Regist"
    "rationId>4697970960162487046-613208779604355455-3</RegistrationId><Tags>tag1</"
    'Tags><PushVariables>{"var1":"value1"}</PushVariables><AdmRegistrationId>amzn1.'
    "adm-registration.v2.123</AdmRegistrationId></AdmRegistrationDescription>"
)

WINDOWS_TEMPLATE = (
    '<WindowsTemplateRegistrationDescription xmlns="http://schemas.microsoft.com/ne'
    'tservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchem'
    'a-instance"><ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.999Z</Expiration'
    "Time><RegistrationId>2584949134662302221-3341630566194549344-2</RegistrationId"
    '><Tags>tag1</Tags><PushVariables>{"var1":"value1"}</PushVariables><ChannelUri>'
    "https://some.url/</ChannelUri><SecondaryTileName>Tile name</SecondaryTileName>"
    '<BodyTemplate><![CDATA[<toast><visual><binding template="ToastText01"><text id'
    '="1">bodyText</text></binding>  </visual></toast>]]></BodyTemplate><WnsHeaders'
    "><WnsHeader><Header>X-WNS-Type</Header><Value>wns/toast</Value></WnsHeader></W"
    "nsHeaders><TemplateName>Template Name</TemplateName></WindowsTemplateRegistrat"
    "ionDescription>"
)

BAIDU_TEMPLATE = (
    '<BaiduTemplateRegistrationDescription xmlns="http://schemas.microsoft.com/nets'
    'ervices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-'
    'instance"><ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.999Z</ExpirationTi'
    "me><RegistrationId>3630626623047843061-208359035529298722-2</RegistrationId><T"
    'ags>tag1</Tags><PushVariables>{"var1":"value1"}</PushVariables><BaiduUserId>us'
    "erId</BaiduUserId><BaiduChannelId>channelId</BaiduChannelId><BodyTemplate><![C"
    'DATA[{"title":"Title","description":"Description"}]]></BodyTemplate><TemplateN'
    "ame>Template Name</TemplateName></BaiduTemplateRegistrationDescription>"
)

MPNS_TEMPLATE = (
    '<MpnsTemplateRegistrationDescription xmlns="http://schemas.microsoft.com/netse'
    'rvices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-i'
    'nstance"><ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.999Z</ExpirationTim'
    "e><RegistrationId>2335707656381260644-4071611309203321228-2</RegistrationId><T"
    'ags>tag1</Tags><PushVariables>{"var1":"value1"}</PushVariables><ChannelUri>htt'
    "ps://some.url/</ChannelUri><SecondaryTileName>Tile name</SecondaryTileName><Bo"
    'dyTemplate><![CDATA[<wp:Notification xmlns:wp="WPNotification" Version="2.0"><'
    'wp:Tile Id="TileId" Template="IconicTile"><wp:Title Action="Clear">Title</wp:T'
    "itle></wp:Tile></wp:Notification>]]></BodyTemplate><MpnsHeaders><MpnsHeader><H"
    "eader>X-NotificationClass</Header><Value>1</Value></MpnsHeader><MpnsHeader><He"
    "ader>X-WindowsPhone-Target</Header><Value>token</Value></MpnsHeader></MpnsHead"
    "ers><TemplateName>Template Name</TemplateName></MpnsTemplateRegistrationDescri"
    "ption>"
)

WINDOWS = (
    '<WindowsRegistrationDescription xmlns="http://schemas.microsoft.com/netservice'
    's/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instan'
    'ce"><ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.999Z</ExpirationTime><Re'
    "gistrationId>293940965926914880-1598107072140701410-1</RegistrationId><Tags>ta"
    'g1</Tags><PushVariables>{"var1":"value1"}</PushVariables><ChannelUri>https://s'
    "ome.url/</ChannelUri><SecondaryTileName>Tile name</SecondaryTileName></Windows"
    "RegistrationDescription>"
)

APPLE_TEMPLATE_ENTRY = (
    '<entry a:etag="W/&quot;1&quot;" xmlns="http://www.w3.org/2005/Atom" xmlns:a="h'
    'ttp://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><id>https://sdk'
    "-sample-namespace.servicebus.windows.net/sdk-sample-nh/registrations/449722722"
    '8776861650-7267172778370643468-3?api-version=2017-04</id><title type="text">44'
    "97227228776861650-7267172778370643468-3</title><published>2018-11-07T00:18:37Z"
    '</published><updated>2018-11-07T00:18:37Z</updated><link rel="self" href="http'
    "s://sdk-sample-namespace.servicebus.windows.net/sdk-sample-nh/registrations/44"
    '97227228776861650-7267172778370643468-3?api-version=2017-04"/><content type="a'
    'pplication/xml"><AppleTemplateRegistrationDescription xmlns="http://schemas.mi'
    'crosoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org'
    '/2001/XMLSchema-instance"><ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.99'
    "9</ExpirationTime><RegistrationId>4497227228776861650-7267172778370643468-3</R"
    'egistrationId><Tags>tag1</Tags><PushVariables>{"var1":"value1"}</PushVariables'
    "><DeviceToken>62BCD3484834B7E2DC56733AC5509259230CC1BA82BA1AE7D06E91908A05A8FA"
    '</DeviceToken><BodyTemplate><![CDATA[{"aps":{"alert":"alert!"}}]]></BodyTempla'
    'te><Expiry i:nil="true"/><TemplateName>Template Name</TemplateName><ApnsHeader'
    "s/></AppleTemplateRegistrationDescription></content></entry>"
)

FIRST_PAGE_FEED = (
    '<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Registrations</ti'
    "tle><id>https://sdk-sample-namespace.servicebus.windows.net/sdk-sample-nh/regi"
    "strations?api-version=2017-04&amp;$top=2</id><updated>2018-11-07T00:18:38Z</up"
    'dated><link rel="self" href="https://sdk-sample-namespace.servicebus.windows.n'
    'et/sdk-sample-nh/registrations?api-version=2017-04&amp;$top=2"/><link rel="nex'
    't" href="https://sdk-sample-namespace.servicebus.windows.net/sdk-sample-nh/reg'
    "istrations?api-version=2017-04&amp;%24top=2&amp;continuationtoken=MzEobik7Mg%2"
    '53D%253D"/><entry a:etag="W/&quot;1&quot;" xmlns:a="http://schemas.microsoft.c'
    'om/ado/2007/08/dataservices/metadata"><id>https://sdk-sample-namespace.service'
    "bus.windows.net/sdk-sample-nh/registrations/5338658925190566729-35841451649469"
    '23081-1?api-version=2017-04&amp;$top=2</id><title type="text">5338658925190566'
    "729-3584145164946923081-1</title><published>2018-11-07T00:18:38Z</published><u"
    'pdated>2018-11-07T00:18:38Z</updated><link rel="self" href="https://sdk-sample'
    "-namespace.servicebus.windows.net/sdk-sample-nh/registrations/5338658925190566"
    '729-3584145164946923081-1?api-version=2017-04&amp;$top=2"/><content type="appl'
    'ication/xml"><AppleRegistrationDescription xmlns="http://schemas.microsoft.com'
    '/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSc'
    'hema-instance"><ETag>1</ETag><ExpirationTime>9999-12-31T23:59:59.999Z</Expirat'
    "ionTime><RegistrationId>5338658925190566729-3584145164946923081-1</Registratio"
    "nId><DeviceToken>62BCD3484834B7E2DC56733AC5509259230CC1BA82BA1AE7D06E91908A05A"
    "8FA</DeviceToken></AppleRegistrationDescription></content></entry><entry a:eta"
    'g="W/&quot;1&quot;" xmlns:a="http://schemas.microsoft.com/ado/2007/08/dataserv'
    'ices/metadata"><id>https://sdk-sample-namespace.servicebus.windows.net/sdk-sam'
    "ple-nh/registrations/5645581655424771962-133652254487445652-1?api-version=2017"
    '-04&amp;$top=2</id><title type="text">5645581655424771962-133652254487445652-1'
    "</title><published>2018-11-07T00:18:38Z</published><updated>2018-11-07T00:18:3"
    '8Z</updated><link rel="self" href="https://sdk-sample-namespace.servicebus.win'
    "dows.net/sdk-sample-nh/registrations/5645581655424771962-133652254487445652-1?"
    'api-version=2017-04&amp;$top=2"/><content type="application/xml"><AppleRegistr'
    'ationDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servi'
    'cebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><ETag>1</ET'
    "ag><ExpirationTime>9999-12-31T23:59:59.999Z</ExpirationTime><RegistrationId>56"
    "45581655424771962-133652254487445652-1</RegistrationId><DeviceToken>62BCD34848"
    "34B7E2DC56733AC5509259230CC1BA82BA1AE7D06E91908A05A8FA</DeviceToken></AppleReg"
    "istrationDescription></content></entry></feed>"
)

DESCRIPTIONS = {
    "APPLE": APPLE,
    "GCM": GCM,
    "APPLE_TEMPLATE": APPLE_TEMPLATE,
    "WINDOWS_TEMPLATE": WINDOWS_TEMPLATE,
    "MPNS_TEMPLATE": MPNS_TEMPLATE,
    "BAIDU_TEMPLATE": BAIDU_TEMPLATE,
    "ADM": ADM,
    "WINDOWS": WINDOWS,
}
