-- The state `listmonk --install` leaves behind (install_state.json). Run after a
-- TRUNCATE ... RESTART IDENTITY so every id sequence continues from here. The caller
-- then sets the API token of user 2 (apiuser).
INSERT INTO templates (name, type, body, is_default) VALUES
    ('Default campaign template', 'campaign', '{{ template "content" . }}', true),
    ('Default archive template', 'campaign', '{{ template "content" . }}', false);

INSERT INTO lists (uuid, name, type, optin, tags) VALUES
    (gen_random_uuid(), 'Default list', 'private', 'single', '{test}'),
    (gen_random_uuid(), 'Opt-in list', 'public', 'double', '{test}');

INSERT INTO subscribers (uuid, email, name, attribs) VALUES
    (gen_random_uuid(), 'john@example.com', 'John Doe', '{"city": "Bengaluru", "good": true, "type": "known"}'),
    (gen_random_uuid(), 'anon@example.com', 'Anon Doe', '{"city": "Bengaluru", "good": true, "type": "unknown"}');

INSERT INTO subscriber_lists (subscriber_id, list_id, status) VALUES
    (1, 1, 'unconfirmed'),
    (2, 2, 'unconfirmed');

INSERT INTO campaigns (uuid, name, subject, from_email, body, content_type, status, tags, messenger,
                       template_id, archive, archive_slug, archive_template_id, archive_meta)
VALUES (gen_random_uuid(), 'Test campaign', 'Welcome to listmonk', 'No Reply <noreply@yoursite.com>',
        E'<h3>Hi {{ .Subscriber.FirstName }}!</h3>\n\t\t<p>This is a test e-mail campaign. Your second name is {{ .Subscriber.LastName }} and you are from {{ .Subscriber.Attribs.city }}.</p>\n\t\t<p>Here is a <a href="https://listmonk.app@TrackLink">tracked link</a>.</p>\n\t\t<p>Use the link icon in the editor toolbar or when writing raw HTML or Markdown,\n\t\t\tsimply suffix @TrackLink to the end of a URL to turn it into a tracking link. Example:</p>\n\t\t<pre>&lt;a href=&quot;https:/&zwnj;/listmonk.app&#064;TrackLink&quot;&gt;&lt;/a&gt;</pre>\n\t\t<p>For help, refer to the <a href="https://listmonk.app/docs">documentation</a>.</p>\n\t\t',
        'richtext', 'draft', '{test-campaign}', 'email', 1, false, 'welcome-to-listmonk', 2,
        '{"name": "Subscriber"}');
INSERT INTO campaign_lists (campaign_id, list_id, list_name) VALUES (1, 1, 'Default list');

INSERT INTO roles (type, name, permissions) VALUES
    ('user', 'Super Admin', '{bounces:get,bounces:manage,campaigns:get,campaigns:get_all,campaigns:get_analytics,campaigns:manage,campaigns:manage_all,campaigns:send,lists:get_all,lists:manage_all,media:get,media:manage,roles:get,roles:manage,settings:get,settings:maintain,settings:manage,subscribers:get,subscribers:get_all,subscribers:import,subscribers:manage,subscribers:sql_query,templates:get,templates:manage,tx:send,users:get,users:manage,webhooks:post_bounce}');

INSERT INTO users (username, password_login, password, email, name, type, user_role_id) VALUES
    ('admin', true, NULL, 'admin@listmonk.yoursite.com', 'admin', 'user', 1),
    ('apiuser', true, NULL, NULL, 'apiuser', 'api', 1);
