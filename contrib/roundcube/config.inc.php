<?php

/*
 * Roundcube (Debian 12's roundcube-core 1.6) as the webmail of the officials of Vĩnh Phúc,
 * in front of congvu: mail over IMAP, sending over SMTP submission, filters and the
 * out-of-office reply over ManageSieve, and the province's directory as a global address
 * book over LDAP.
 *
 * Install as /etc/roundcube/config.inc.php, owned root:www-data, mode 0640: it holds the
 * des_key and the directory service account's secret. Replace the two values marked
 * "THAY" below. docs/webmail.md explains every setting; contrib/roundcube/check.php runs
 * Roundcube's own IMAP, SMTP, LDAP and ManageSieve code with these settings.
 */

$config = [];

// The database dpkg-reconfigure roundcube-core set up (Debian's own line, kept as it was).
include("/etc/roundcube/debian-db-roundcube.php");

// Encrypts the official's password in the webmail session. 24 characters, unique to this
// server: keep the one Debian generated in its config.inc.php, or `openssl rand -base64 18`.
$config['des_key'] = 'THAY-bang-24-ky-tu-rieng';

$config['product_name'] = 'Thư công vụ tỉnh Vĩnh Phúc';
$config['support_url'] = 'https://mail.vinhphuc.gov.vn/';
$config['language'] = 'vi_VN';
$config['timezone'] = 'Asia/Ho_Chi_Minh';
$config['skin'] = 'elastic';
$config['enable_spellcheck'] = false;

// The certificate congvu presents on every listener. The public CAs Debian trusts; for a
// certificate of the province's own CA, its PEM file instead.
$congvu_tls = [
    'ssl' => [
        'verify_peer' => true,
        'verify_peer_name' => true,
        'cafile' => '/etc/ssl/certs/ca-certificates.crt',
    ],
];

// IMAP over implicit TLS (congvu [imap] imaps_listen). STARTTLS on 143 works too:
// 'tls://mail.vinhphuc.gov.vn:143'.
$config['imap_host'] = 'ssl://mail.vinhphuc.gov.vn:993';
$config['imap_conn_options'] = $congvu_tls;
// Officials sign in with their login (annv) or their address; new identities get
// login@vinhphuc.gov.vn until the official edits them.
$config['mail_domain'] = 'vinhphuc.gov.vn';
// congvu makes INBOX, Sent, Drafts, Trash and Junk for every official, marked SPECIAL-USE.
$config['create_default_folders'] = false;
$config['sent_mbox'] = 'Sent';
$config['drafts_mbox'] = 'Drafts';
$config['trash_mbox'] = 'Trash';
$config['junk_mbox'] = 'Junk';

// SMTP submission over implicit TLS (congvu [smtp] submissions_listen), signed in as the
// official with the webmail login's name and password. STARTTLS on 587 works too:
// 'tls://mail.vinhphuc.gov.vn:587'.
$config['smtp_host'] = 'ssl://mail.vinhphuc.gov.vn:465';
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['smtp_auth_type'] = 'PLAIN';
$config['smtp_conn_options'] = $congvu_tls;

$config['plugins'] = ['managesieve'];

// ManageSieve (congvu [sieve] managesieve_listen): STARTTLS, then AUTHENTICATE PLAIN.
// Roundcube 1.6 takes the STARTTLS choice and the port from this URL; its older
// managesieve_port and managesieve_usetls settings are gone.
$config['managesieve_host'] = 'tls://mail.vinhphuc.gov.vn:4190';
$config['managesieve_auth_type'] = 'PLAIN';
$config['managesieve_conn_options'] = $congvu_tls;
// Folder names in scripts as Sieve writes them (RFC 5228 §2.7.2), not IMAP's modified
// UTF-7: without this, a filter into "Công văn đến" files into a folder nobody has.
$config['managesieve_mbox_encoding'] = 'UTF-8';
// The script Roundcube makes and activates for an official who has none.
$config['managesieve_script_name'] = 'roundcube';
// Settings → "Bộ lọc" (Filters) and "Out of Office" side by side.
$config['managesieve_vacation'] = 1;
// One reply per sender per day, as the portal's out-of-office page sends.
$config['managesieve_vacation_interval'] = 1;

// The province's directory, read with a congvu service account
// (congvu-admin service add webmail). Officials only; disabled officials are not in it.
$config['ldap_public']['congvu'] = [
    'name' => 'Danh bạ tỉnh Vĩnh Phúc',
    'hosts' => ['ldaps://mail.vinhphuc.gov.vn:636'],
    'ldap_version' => 3,
    'network_timeout' => 10,
    'user_specific' => false,
    'base_dn' => 'ou=people,dc=vinhphuc,dc=gov,dc=vn',
    'bind_dn' => 'cn=webmail,ou=services,dc=vinhphuc,dc=gov,dc=vn',
    // The secret `congvu-admin service add webmail` printed.
    'bind_pass' => 'THAY-bang-secret-cua-congvu-admin',
    'writable' => false,
    // 8,300 officials: found by searching, never listed whole (congvu answers at most
    // [ldap] size_limit entries per search).
    'searchonly' => true,
    'sizelimit' => '200',
    'scope' => 'list',
    'filter' => '(objectClass=inetOrgPerson)',
    'fuzzy_search' => true,
    'vlv' => false,
    'sort' => 'cn',
    'search_fields' => ['cn', 'displayName', 'mail', 'mailAlternateAddress', 'uid', 'title', 'departmentNumber'],
    'fieldmap' => [
        'name' => 'cn',
        'surname' => 'sn',
        'firstname' => 'givenName',
        'email' => 'mail',
        'jobtitle' => 'title',
        'department' => 'departmentNumber',
        'phone:work' => 'telephoneNumber',
    ],
];
$config['autocomplete_addressbooks'] = ['sql', 'congvu'];
$config['autocomplete_min_length'] = 2;
