/** A minimal catalog: one event sent by one service and received by another. */
export default {
  cId: '00000000-0000-4000-8000-000000000001',
  title: 'Basic Shop',
  organizationName: 'Basic Shop',
  homepageLink: 'https://shop.example.com',
};
